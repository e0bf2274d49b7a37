/* Empty domain lists for tests of the RPC layer; see domain-placeholder.c. */
#pragma once

/* Register LIST_ALL_DOMAINS, NUM_OF_(DEFINED_)DOMAINS and LIST_(DEFINED_)DOMAINS
 * answering "no domains". */
void domain_placeholder_register(void);
