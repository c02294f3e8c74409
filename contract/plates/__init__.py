"""The Vietnamese plate grammar that the edge (reading) and the hub (review, search) share."""
