/* Node device procedures (REMOTE program), answered by the node-device
 * driver (drivers/nodedev/nodedev.h). */
#pragma once
#include <stdbool.h>

/* Initialize the node-device driver (records under <state_dir>/nodedev;
 * sysfs root "/sys", or $HVD_NODEDEV_SYSFS_ROOT for tests) and register its
 * handlers. false (logged; the procedures then stay "not supported") when
 * the driver cannot start. */
bool remote_nodedev_register(const char *state_dir);
