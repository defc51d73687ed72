// Whether this test binary was built with a sanitizer that changes what a memory measurement means.
//
// AddressSanitizer (the asan preset) maps a shadow byte for every 8 bytes the process uses, pads each
// allocation with redzones, and keeps freed blocks in a quarantine (256 MiB by default) instead of giving
// them back, so that a use after free is caught. A process's RSS or PSS then measures ASan's bookkeeping as
// much as the code: a bound on memory growth that holds in Release fails there for no fault of the code.
// Tests that bound memory run everything else under ASan (that is where it finds bugs) and skip the bound.
#pragma once

namespace plx::testing_support {

#if defined(__SANITIZE_ADDRESS__)  // g++ (and clang since 14)
inline constexpr bool under_address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang
inline constexpr bool under_address_sanitizer = true;
#else
inline constexpr bool under_address_sanitizer = false;
#endif
#else
inline constexpr bool under_address_sanitizer = false;
#endif

/// Why a bound on memory use is not checked in this build: give it to GTEST_SKIP() after the test's other
/// checks (and after its collective calls), when under_address_sanitizer.
inline constexpr const char* memory_bound_skipped =
    "memory bound not checked under AddressSanitizer (its shadow memory, redzones and quarantine are in the "
    "measured RSS/PSS); the Release build checks it";

}  // namespace plx::testing_support
