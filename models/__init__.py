"""Networks, losses, training loops and the metrics that judge them."""
