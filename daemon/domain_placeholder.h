/* TEMPORARY empty domain lists; see domain_placeholder.c. */
#pragma once

/* Register LIST_ALL_DOMAINS, NUM_OF_(DEFINED_)DOMAINS and LIST_(DEFINED_)DOMAINS
 * answering "no domains". Call before the domain driver registers. */
void domain_placeholder_register(void);
