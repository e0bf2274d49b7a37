/* Intel 82540EM register offsets and bits used by hv's e1000 model
 * (x86-boot.md §9.2-§9.5; Intel 8254x Software Developer's Manual). */
#pragma once

#define E1000_VENDOR_INTEL 0x8086
#define E1000_DEV_82540EM 0x100E
#define E1000_REVISION 3
#define E1000_CLASS_ETHERNET 0x020000
#define E1000_SUBSYS_VENDOR 0x1AF4   /* as QEMU presents it (§9.1) */
#define E1000_SUBSYS_ID 0x1100

#define E1000_MMIO_SIZE 0x20000      /* BAR0 */
#define E1000_IO_SIZE 0x40           /* BAR1 */
#define E1000_IOADDR 0x00
#define E1000_IODATA 0x04

/* ---- registers (BAR0 offsets) ---- */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EECD 0x0010
#define E1000_EERD 0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_MDIC 0x0020
#define E1000_VET 0x0038
#define E1000_ICR 0x00C0
#define E1000_ITR 0x00C4
#define E1000_ICS 0x00C8
#define E1000_IMS 0x00D0
#define E1000_IMC 0x00D8
#define E1000_RCTL 0x0100
#define E1000_TCTL 0x0400
#define E1000_LEDCTL 0x0E00
#define E1000_PBA 0x1000
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_STATS_FIRST 0x4000
#define E1000_STATS_LAST 0x40FC
#define E1000_RXCSUM 0x5000
#define E1000_MTA 0x5200             /* 128 registers */
#define E1000_RA 0x5400              /* RAL n at +8n, RAH n at +8n+4, n < 16 */
#define E1000_RA_ENTRIES 16
#define E1000_VFTA 0x5600            /* 128 registers */

/* ---- statistics (read-to-clear) ---- */
#define E1000_CRCERRS 0x4000
#define E1000_MPC 0x4010
#define E1000_GPRC 0x4074
#define E1000_BPRC 0x4078
#define E1000_MPRC 0x407C
#define E1000_GPTC 0x4080
#define E1000_GORCL 0x4088
#define E1000_GORCH 0x408C
#define E1000_GOTCL 0x4090
#define E1000_GOTCH 0x4094
#define E1000_RNBC 0x40A0
#define E1000_ROC 0x40AC
#define E1000_TORL 0x40C0
#define E1000_TORH 0x40C4
#define E1000_TOTL 0x40C8
#define E1000_TOTH 0x40CC
#define E1000_TPR 0x40D0
#define E1000_TPT 0x40D4
#define E1000_MPTC 0x40F0
#define E1000_BPTC 0x40F4
#define E1000_TSCTC 0x40F8
#define E1000_TSCTFC 0x40FC

/* CTRL */
#define E1000_CTRL_FD (1u << 0)
#define E1000_CTRL_SLU (1u << 6)
#define E1000_CTRL_SPD_1000 (2u << 8)
#define E1000_CTRL_SWDPIN0 (1u << 18)
#define E1000_CTRL_SWDPIN2 (1u << 20)
#define E1000_CTRL_RST (1u << 26)
#define E1000_CTRL_VME (1u << 30)
#define E1000_CTRL_PHY_RST (1u << 31)

/* STATUS */
#define E1000_STATUS_FD (1u << 0)
#define E1000_STATUS_LU (1u << 1)
#define E1000_STATUS_SPEED_1000 (2u << 6)
#define E1000_STATUS_ASDV_1000 (2u << 8)
#define E1000_STATUS_MTXCKOK (1u << 10)
#define E1000_STATUS_GIO_MASTER_EN (1u << 19)

/* EECD (Microwire bit-bang, §9.4) */
#define E1000_EECD_SK (1u << 0)
#define E1000_EECD_CS (1u << 1)
#define E1000_EECD_DI (1u << 2)
#define E1000_EECD_DO (1u << 3)
#define E1000_EECD_FWE_MASK (3u << 4)
#define E1000_EECD_REQ (1u << 6)
#define E1000_EECD_GNT (1u << 7)
#define E1000_EECD_PRES (1u << 8)
#define E1000_EECD_SIZE (1u << 9)
#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_ADDR_BITS 6     /* EECD.SIZE = 0 */
#define E1000_EEPROM_OP_READ 0x6     /* Microwire READ = 110b */
#define E1000_EEPROM_SUM 0xBABA

/* EERD */
#define E1000_EERD_START (1u << 0)
#define E1000_EERD_DONE (1u << 4)
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

/* EEPROM words */
#define E1000_EEW_MAC0 0x00
#define E1000_EEW_INIT_CTRL1 0x0A
#define E1000_EEW_SUBSYS_ID 0x0B
#define E1000_EEW_SUBSYS_VENDOR 0x0C
#define E1000_EEW_DEVICE_ID 0x0D
#define E1000_EEW_VENDOR_ID 0x0E
#define E1000_EEW_INIT_CTRL2 0x0F
#define E1000_EEW_CHECKSUM 0x3F

/* MDIC */
#define E1000_MDIC_DATA_MASK 0xFFFFu
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE (1u << 26)
#define E1000_MDIC_OP_READ (2u << 26)
#define E1000_MDIC_READY (1u << 28)
#define E1000_MDIC_INT_EN (1u << 29)
#define E1000_MDIC_ERROR (1u << 30)

/* PHY (M88E1011, address 1, §9.3) */
#define E1000_PHY_ADDR 1
#define E1000_PHY_REGS 32
#define PHY_CTRL 0
#define PHY_STATUS 1
#define PHY_ID1 2
#define PHY_ID2 3
#define PHY_AUTONEG_ADV 4
#define PHY_LP_ABILITY 5
#define PHY_1000T_CTRL 9
#define PHY_1000T_STATUS 10
#define M88_PHY_SPEC_CTRL 16
#define M88_PHY_SPEC_STATUS 17
#define M88_EXT_PHY_SPEC_CTRL 20
#define PHY_CTRL_RESET (1u << 15)
#define PHY_CTRL_RESTART_AN (1u << 9)
#define PHY_STATUS_LINK (1u << 2)
#define PHY_STATUS_AN_DONE (1u << 5)
#define M88_STATUS_LINK (1u << 10)
#define M88_STATUS_RESOLVED (1u << 11)

/* Interrupt causes (ICR/ICS/IMS/IMC) */
#define E1000_ICR_TXDW (1u << 0)
#define E1000_ICR_TXQE (1u << 1)
#define E1000_ICR_LSC (1u << 2)
#define E1000_ICR_RXSEQ (1u << 3)
#define E1000_ICR_RXDMT0 (1u << 4)
#define E1000_ICR_RXO (1u << 6)
#define E1000_ICR_RXT0 (1u << 7)
#define E1000_ICR_MDAC (1u << 9)
#define E1000_ICR_TXD_LOW (1u << 15)
#define E1000_ICR_SRPD (1u << 16)
#define E1000_ICR_INT_ASSERTED (1u << 31)
#define E1000_ICR_CAUSES 0x0001FFFFu

/* RCTL */
#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_SBP (1u << 2)
#define E1000_RCTL_UPE (1u << 3)
#define E1000_RCTL_MPE (1u << 4)
#define E1000_RCTL_LPE (1u << 5)
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM (1u << 15)
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE (1u << 18)
#define E1000_RCTL_BSEX (1u << 25)
#define E1000_RCTL_SECRC (1u << 26)

/* TCTL */
#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3)

/* RAH */
#define E1000_RAH_AV (1u << 31)

/* Receive descriptor status/errors (§9.5) */
#define E1000_RXD_STAT_DD 0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_RXD_STAT_IXSM 0x04
#define E1000_RXD_STAT_VP 0x08
#define E1000_RXD_ERR_RXE 0x80

/* Transmit descriptors (§9.5) */
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04      /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE 0x04     /* data descriptor: TCP segmentation */
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE 0x40
#define E1000_TXD_STAT_DD 0x01
#define E1000_TXD_DTYP_CONTEXT 0x0
#define E1000_TXD_DTYP_DATA 0x1
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
#define E1000_TUCMD_TCP 0x01
#define E1000_TUCMD_IP 0x02
#define E1000_TUCMD_TSE 0x04

#define E1000_DESC_SIZE 16
#define E1000_RING_ALIGN 128        /* RDLEN/TDLEN granularity: 8 descriptors */
