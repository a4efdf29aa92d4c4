//! Dialogflow exports: CX (folder or zip) and ES.
