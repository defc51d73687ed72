// Private to src/web: the argument checks of adhesion(), shared with write_adhesion_times (which checks
// before any collective work, so that every rank throws the same error at once).
#pragma once

#include <cstddef>
#include <span>

namespace plx::web::detail {

/// @throws plx::config_error naming the bad argument (see adhesion()).
void check_adhesion_arguments(int dim, std::ptrdiff_t n, double box, std::span<const double> potential, double growth);

}  // namespace plx::web::detail
