# drivers/conf: owned by that area
