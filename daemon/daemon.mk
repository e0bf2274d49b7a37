# daemon: owned by that area
