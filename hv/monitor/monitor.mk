# hv/monitor: owned by that area
