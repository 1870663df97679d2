"""semi: rounds of pseudo-labelling (rounds.py), the rules that pick them (selection.py) and the rule
that keeps or rolls back a round (acceptance.py)."""
