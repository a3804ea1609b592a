"""One module per stage command; importing a module registers its command on the app."""
