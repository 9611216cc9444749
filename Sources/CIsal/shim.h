#ifndef CISAL_SHIM_H
#define CISAL_SHIM_H
// ISA-L's inflate (Debian libisal-dev), for the opt-in ISAL package trait.
#include <isa-l/igzip_lib.h>
#endif
