/* Domain procedures (REMOTE program) and the libvirt-qemu monitor command,
 * answered by the domain driver (drivers/domain/driver.h). */
#pragma once

/* Register every domain handler (replacing domain_placeholder.c's lists)
 * and the driver's lifecycle event sink. Call after hvd_driver_init(). */
void remote_domain_register(void);
