"""Who may do what: principals, their groups, and the rules that let them upload, see, approve and administer."""
