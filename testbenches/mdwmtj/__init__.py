"""The SOT magnetic domain-wall MTJ and the P²M MAC built from it."""
