/* MSI-X emulation; see msix.h. Section numbers: PCI Local Bus 3.0 §6.8.2. */
#include "hv/pci/msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/pci/pci.h"

/* Table entry layout (§6.8.2.6-9). */
#define ENTRY_ADDR_LO 0
#define ENTRY_ADDR_HI 4
#define ENTRY_DATA 8
#define ENTRY_CTRL 12

uint32_t msix_table_bytes(uint16_t nvec) { return (uint32_t)nvec * MSIX_ENTRY_SIZE; }
uint32_t msix_pba_bytes(uint16_t nvec) { return ((nvec + 63u) / 64u) * 8u; }

static uint32_t entry32(const struct msix *m, unsigned vec, unsigned field)
{
    uint32_t v;
    memcpy(&v, m->table + (size_t)vec * MSIX_ENTRY_SIZE + field, 4);
    return v;
}

static uint64_t entry_addr(const struct msix *m, unsigned vec)
{
    return ((uint64_t)entry32(m, vec, ENTRY_ADDR_HI) << 32) | entry32(m, vec, ENTRY_ADDR_LO);
}

static bool vector_masked(const struct msix *m, unsigned vec)
{
    return entry32(m, vec, ENTRY_CTRL) & MSIX_VECTOR_MASKED;
}

static bool vector_active(const struct msix *m, unsigned vec)
{
    return m->enabled && !m->function_masked && !vector_masked(m, vec);
}

static void pba_set(struct msix *m, unsigned vec, bool on)
{
    if (on)
        m->pba[vec / 64] |= 1ull << (vec % 64);
    else
        m->pba[vec / 64] &= ~(1ull << (vec % 64));
}

static bool pba_get(const struct msix *m, unsigned vec)
{
    return m->pba[vec / 64] & (1ull << (vec % 64));
}

static void report_change(struct msix *m, unsigned vec)
{
    if (m->changed)
        m->changed(m->opaque, vec, entry_addr(m, vec), entry32(m, vec, ENTRY_DATA),
                   vector_active(m, vec));
}

/* §6.8.2.9: when a masked vector with its pending bit set becomes
 * unmasked, the function sends the message and clears the bit. */
static void flush_pending(struct msix *m, unsigned vec)
{
    if (pba_get(m, vec) && vector_active(m, vec)) {
        pba_set(m, vec, false);
        if (m->deliver)
            m->deliver(m->opaque, vec, entry_addr(m, vec), entry32(m, vec, ENTRY_DATA));
    }
}

static void table_init(struct msix *m)
{
    memset(m->table, 0, msix_table_bytes(m->nvec));
    memset(m->pba, 0, msix_pba_bytes(m->nvec));
    uint32_t masked = MSIX_VECTOR_MASKED;  /* reset value of vector control */
    for (unsigned v = 0; v < m->nvec; v++)
        memcpy(m->table + (size_t)v * MSIX_ENTRY_SIZE + ENTRY_CTRL, &masked, 4);
}

int msix_init(struct msix *m, struct pci_device *pci, uint16_t nvec, uint8_t bar,
              uint32_t table_off, uint32_t pba_off, msix_deliver_fn deliver,
              msix_changed_fn changed, void *opaque)
{
    memset(m, 0, sizeof(*m));
    /* Offsets are QWORD aligned (the low 3 bits hold the BIR); the table
     * and the PBA must not overlap. */
    if (nvec == 0 || nvec > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || table_off % 8 ||
        pba_off % 8 ||
        (table_off < pba_off + msix_pba_bytes(nvec) && pba_off < table_off + msix_table_bytes(nvec)))
        return -EINVAL;
    m->pci = pci;
    m->nvec = nvec;
    m->bar = bar;
    m->table_off = table_off;
    m->pba_off = pba_off;
    m->deliver = deliver;
    m->changed = changed;
    m->opaque = opaque;
    m->table = malloc(msix_table_bytes(nvec));
    m->pba = malloc(msix_pba_bytes(nvec));
    if (!m->table || !m->pba) {
        msix_free(m);
        return -ENOMEM;
    }
    table_init(m);
    pthread_mutex_init(&m->lock, NULL);

    uint8_t cap[MSIX_CAP_LEN] = { MSIX_CAP_ID, 0 };
    uint16_t control = nvec - 1;    /* table size is encoded as N-1 */
    uint32_t table = table_off | bar, pba = pba_off | bar;
    memcpy(cap + 2, &control, 2);
    memcpy(cap + 4, &table, 4);
    memcpy(cap + 8, &pba, 4);
    m->cap = pci_add_cap(pci, cap, sizeof(cap));
    if (!m->cap) {
        pthread_mutex_destroy(&m->lock);
        msix_free(m);
        return -ENOSPC;
    }
    /* Only MSI-X Enable (bit 15) and Function Mask (bit 14) are writable. */
    pci->wmask[m->cap + 3] |= 0xC0;
    return 0;
}

void msix_free(struct msix *m)
{
    free(m->table);
    free(m->pba);
    m->table = NULL;
    m->pba = NULL;
}

void msix_reset(struct msix *m)
{
    pthread_mutex_lock(&m->lock);
    table_init(m);
    m->enabled = m->function_masked = false;
    m->pci->cfg[m->cap + 3] &= (uint8_t)~0xC0;
    for (unsigned v = 0; v < m->nvec; v++)
        report_change(m, v);
    pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
    pthread_mutex_lock(&m->lock);
    bool on = m->enabled;
    pthread_mutex_unlock(&m->lock);
    return on;
}

void msix_cfg_write(struct msix *m, uint32_t off, uint32_t len, uint32_t val)
{
    (void)val;  /* the core already applied it to cfg[] through wmask */
    uint32_t ctrl = m->cap + 2u;
    if (off + len <= ctrl || off >= ctrl + 2)
        return;
    pthread_mutex_lock(&m->lock);
    uint8_t hi = m->pci->cfg[m->cap + 3];
    bool enabled = hi & (MSIX_CTRL_ENABLE >> 8), fmask = hi & (MSIX_CTRL_FUNCTION_MASK >> 8);
    if (enabled != m->enabled || fmask != m->function_masked) {
        m->enabled = enabled;
        m->function_masked = fmask;
        for (unsigned v = 0; v < m->nvec; v++) {
            report_change(m, v);
            flush_pending(m, v);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static void table_write(struct msix *m, uint32_t off, const uint8_t *data, uint32_t len)
{
    uint32_t size = msix_table_bytes(m->nvec);
    if (off >= size)
        return;
    if (len > size - off)
        len = size - off;
    unsigned first = off / MSIX_ENTRY_SIZE, last = (off + len - 1) / MSIX_ENTRY_SIZE;
    for (unsigned v = first; v <= last; v++) {
        uint8_t before[MSIX_ENTRY_SIZE];
        uint8_t *entry = m->table + (size_t)v * MSIX_ENTRY_SIZE;
        memcpy(before, entry, sizeof(before));
        for (uint32_t i = 0; i < len; i++) {
            uint32_t at = off + i;
            if (at / MSIX_ENTRY_SIZE == v)
                entry[at % MSIX_ENTRY_SIZE] = data[i];
        }
        /* Message address is DWORD aligned (bits 1:0 read 0); only bit 0
         * of vector control is defined, the rest is reserved (reads 0). */
        entry[ENTRY_ADDR_LO] &= 0xFC;
        entry[ENTRY_CTRL] &= MSIX_VECTOR_MASKED;
        memset(entry + ENTRY_CTRL + 1, 0, 3);
        if (memcmp(before, entry, sizeof(before)) != 0) {
            report_change(m, v);
            flush_pending(m, v);
        }
    }
}

bool msix_bar_access(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    uint32_t tsize = msix_table_bytes(m->nvec), psize = msix_pba_bytes(m->nvec);
    bool in_table = off >= m->table_off && off - m->table_off < tsize;
    bool in_pba = off >= m->pba_off && off - m->pba_off < psize;
    if (!in_table && !in_pba)
        return false;
    pthread_mutex_lock(&m->lock);
    if (in_table) {
        uint32_t t = (uint32_t)(off - m->table_off);
        if (is_write) {
            table_write(m, t, data, len);
        } else {
            for (uint32_t i = 0; i < len; i++)
                data[i] = t + i < tsize ? m->table[t + i] : 0;
        }
    } else if (!is_write) {
        uint32_t p = (uint32_t)(off - m->pba_off);
        const uint8_t *bits = (const uint8_t *)m->pba;
        for (uint32_t i = 0; i < len; i++)
            data[i] = p + i < psize ? bits[p + i] : 0;
    }
    pthread_mutex_unlock(&m->lock);
    return true;
}

bool msix_notify(struct msix *m, unsigned vec)
{
    pthread_mutex_lock(&m->lock);
    bool ok = m->enabled && vec < m->nvec;
    if (ok) {
        if (vector_active(m, vec)) {
            if (m->deliver)
                m->deliver(m->opaque, vec, entry_addr(m, vec), entry32(m, vec, ENTRY_DATA));
        } else {
            pba_set(m, vec, true);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return ok;
}

bool msix_is_pending(struct msix *m, unsigned vec)
{
    pthread_mutex_lock(&m->lock);
    bool on = vec < m->nvec && pba_get(m, vec);
    pthread_mutex_unlock(&m->lock);
    return on;
}

bool msix_is_masked(struct msix *m, unsigned vec)
{
    pthread_mutex_lock(&m->lock);
    bool on = vec >= m->nvec || m->function_masked || vector_masked(m, vec);
    pthread_mutex_unlock(&m->lock);
    return on;
}

void msix_restore(struct msix *m, const uint8_t *table, const uint64_t *pba)
{
    pthread_mutex_lock(&m->lock);
    memcpy(m->table, table, msix_table_bytes(m->nvec));
    memcpy(m->pba, pba, msix_pba_bytes(m->nvec));
    uint8_t hi = m->pci->cfg[m->cap + 3];
    m->enabled = hi & (MSIX_CTRL_ENABLE >> 8);
    m->function_masked = hi & (MSIX_CTRL_FUNCTION_MASK >> 8);
    for (unsigned v = 0; v < m->nvec; v++) {
        report_change(m, v);
        flush_pending(m, v);
    }
    pthread_mutex_unlock(&m->lock);
}
