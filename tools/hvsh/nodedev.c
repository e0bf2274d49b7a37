/* Node device commands with virsh's names: nodedev-list, nodedev-dumpxml,
 * nodedev-detach (old spelling nodedev-dettach), nodedev-reattach. */
#include "tools/hvsh/hvsh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned flag;
} caps[] = {
    { "system", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SYSTEM },
    { "pci", VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV },
    { "usb_device", VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV },
    { "usb", VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_INTERFACE },
    { "net", VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET },
    { "scsi_host", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_HOST },
    { "scsi", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI },
    { "storage", VIR_CONNECT_LIST_NODE_DEVICES_CAP_STORAGE },
};

static int name_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(virNodeDeviceGetName(*(virNodeDevicePtr *)a),
                  virNodeDeviceGetName(*(virNodeDevicePtr *)b));
}

static const struct hvsh_opt_def list_opts[] = {
    { "cap", HVSH_OPT_STRING, 0, "capability names, separated by comma (pci, net, system, ...)" },
    { "inactive", HVSH_OPT_BOOL, 0, "list inactive devices" },
    { "all", HVSH_OPT_BOOL, 0, "list inactive & active devices" },
    { NULL },
};

static int cmd_nodedev_list(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    unsigned flags = 0;
    const char *cap_text = hvsh_arg_str(args, "cap");
    if (cap_text) {
        g_auto(GStrv) names = g_strsplit(cap_text, ",", -1);
        for (int i = 0; names[i]; i++) {
            g_strstrip(names[i]);
            bool found = false;
            for (size_t k = 0; k < G_N_ELEMENTS(caps); k++) {
                if (!strcmp(names[i], caps[k].name)) {
                    flags |= caps[k].flag;
                    found = true;
                }
            }
            if (!found) {
                hvsh_error("Invalid capability type '%s'", names[i]);
                return HVSH_EXIT_USAGE;
            }
        }
    }
    /* virsh sends ACTIVE unless asked otherwise */
    if (hvsh_arg_bool(args, "all"))
        flags |= VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE | VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE;
    else if (hvsh_arg_bool(args, "inactive"))
        flags |= VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE;
    else
        flags |= VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE;
    virNodeDevicePtr *devs = NULL;
    int n = virConnectListAllNodeDevices(ctl->conn, &devs, flags);
    if (n < 0)
        return hvsh_libvirt_error("Failed to list node devices");
    qsort(devs, n, sizeof(*devs), (int (*)(const void *, const void *))name_cmp);
    json_object *arr = json_object_new_array();
    for (int i = 0; i < n; i++) {
        if (ctl->json)
            json_object_array_add(arr, json_object_new_string(virNodeDeviceGetName(devs[i])));
        else
            printf("%s\n", virNodeDeviceGetName(devs[i]));
        virNodeDeviceFree(devs[i]);
    }
    free(devs);
    if (ctl->json) {
        g_autofree char *text = hvsh_json_pretty(arr);
        fputs(text, stdout);
    } else {
        printf("\n");
    }
    json_object_put(arr);
    return HVSH_EXIT_OK;
}

static const struct hvsh_opt_def device_opts[] = {
    { "device", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "device name (pci_0000_02_10_0)" },
    { NULL },
};

static virNodeDevicePtr lookup_device(struct hvsh_ctl *ctl, const char *name)
{
    virNodeDevicePtr dev = virNodeDeviceLookupByName(ctl->conn, name);
    if (!dev)
        hvsh_libvirt_error("Could not find matching device '%s'", name);
    return dev;
}

static int cmd_nodedev_dumpxml(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virNodeDevicePtr dev = lookup_device(ctl, hvsh_arg_str(args, "device"));
    if (!dev)
        return HVSH_EXIT_ERROR;
    int rc = HVSH_EXIT_OK;
    char *xml = virNodeDeviceGetXMLDesc(dev, 0);
    if (!xml) {
        rc = hvsh_libvirt_error("failed to get the XML of device '%s'", virNodeDeviceGetName(dev));
    } else if (ctl->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(virNodeDeviceGetName(dev)));
        json_object_object_add(o, "xml", json_object_new_string(xml));
        g_autofree char *text = hvsh_json_pretty(o);
        fputs(text, stdout);
        json_object_put(o);
    } else {
        fputs(xml, stdout);
    }
    free(xml);
    virNodeDeviceFree(dev);
    return rc;
}

static const struct hvsh_opt_def detach_opts[] = {
    { "device", HVSH_OPT_STRING, HVSH_OPT_POSITIONAL | HVSH_OPT_REQUIRED, "device key" },
    { "driver", HVSH_OPT_STRING, 0, "pci device assignment backend driver (vfio)" },
    { NULL },
};

static int cmd_nodedev_detach(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    const char *driver = hvsh_arg_str(args, "driver");
    virNodeDevicePtr dev = lookup_device(ctl, hvsh_arg_str(args, "device"));
    if (!dev)
        return HVSH_EXIT_ERROR;
    int rc = HVSH_EXIT_OK;
    /* virsh: plain Dettach unless a driver is named (older daemons lack the flags call) */
    int r = driver ? virNodeDeviceDetachFlags(dev, driver, 0) : virNodeDeviceDettach(dev);
    if (r < 0)
        rc = hvsh_libvirt_error("Failed to detach device %s", virNodeDeviceGetName(dev));
    else
        hvsh_done(ctl, "Device %s detached", virNodeDeviceGetName(dev));
    virNodeDeviceFree(dev);
    return rc;
}

static int cmd_nodedev_reattach(struct hvsh_ctl *ctl, const struct hvsh_args *args)
{
    virNodeDevicePtr dev = lookup_device(ctl, hvsh_arg_str(args, "device"));
    if (!dev)
        return HVSH_EXIT_ERROR;
    int rc = HVSH_EXIT_OK;
    if (virNodeDeviceReAttach(dev) < 0)
        rc = hvsh_libvirt_error("Failed to re-attach device %s", virNodeDeviceGetName(dev));
    else
        hvsh_done(ctl, "Device %s re-attached", virNodeDeviceGetName(dev));
    virNodeDeviceFree(dev);
    return rc;
}

const struct hvsh_cmd_def hvsh_nodedev_cmds[] = {
    { "nodedev-list", NULL, "enumerate devices on this host",
      "Returns the list of node devices, sorted by name; --cap pci for PCI devices "
      "(SR-IOV physical and virtual functions included).",
      list_opts, cmd_nodedev_list, 0 },
    { "nodedev-dumpxml", NULL, "node device details in XML",
      "Output the node device details as an XML dump to stdout.", device_opts,
      cmd_nodedev_dumpxml, 0 },
    { "nodedev-detach", "nodedev-dettach", "detach node device from its device driver",
      "Detach a PCI device from its host driver and bind it to vfio-pci for assignment.",
      detach_opts, cmd_nodedev_detach, 0 },
    { "nodedev-reattach", NULL, "reattach node device to its device driver",
      "Give a detached PCI device back to its host driver.", device_opts,
      cmd_nodedev_reattach, 0 },
    { NULL },
};
