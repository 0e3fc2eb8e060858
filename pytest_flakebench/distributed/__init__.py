"""One benchmark run across processes and machines: controller, workers and xdist glue."""
