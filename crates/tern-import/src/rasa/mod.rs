//! Rasa projects: CALM flows and the classic NLU-era files.
