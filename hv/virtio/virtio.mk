# hv/virtio: owned by that area
