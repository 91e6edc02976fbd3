"""What an operator sees of a running process: health and Prometheus metrics."""
