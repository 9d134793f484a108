"""The documentation as package data: the user guides and glossary are served at /help."""
