#ifndef SWIFTCTR_CPREFETCH_H
#define SWIFTCTR_CPREFETCH_H

// Software prefetch for the FFM trainer's hot loop. Swift has no prefetch of its own and
// cannot import _mm_prefetch (a macro); __builtin_prefetch compiles to PREFETCHT0 on
// x86-64 and PRFM on arm64, and to nothing where there is no such instruction.
static inline void swiftctr_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
