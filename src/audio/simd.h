#pragma once
// Hot loops are compiled twice, for AVX2+FMA and for the baseline, and the
// right one is picked when the program starts (GCC function multi-versioning),
// so one portable binary still uses the wide vector units where they exist.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define ONESHOT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ONESHOT_SIMD_CLONES
#endif
