# hv: owned by that area
