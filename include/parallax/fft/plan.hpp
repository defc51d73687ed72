/// @file
/// FFTW-MPI plans for in-place r2c/c2r transforms of slab fields, made once and applied to any field of
/// the same geometry (FFTW's new-array execute; fftw_alloc keeps every field equally aligned).
///
/// Planning modes: `estimate` (the default) gives bitwise-identical results for any number of ranks and
/// threads, which parallax promises for its outputs; `measure` times candidate algorithms and is often
/// faster, but FFTW then picks different algorithms for different layouts (and runs), so results differ in
/// the last bits between them. Its wisdom can be saved and loaded so repeated runs skip the planning.
#pragma once

#include <string>

#include <fftw3-mpi.h>

#include <parallax/core/communicator.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/transforms.hpp>

namespace plx::fft {

/// How FFTW plans: estimate is bitwise reproducible across layouts, measure is often faster (see above).
enum class plan_mode { estimate, measure };

/// "estimate" or "measure"; throws plx::config_error otherwise.
[[nodiscard]] plan_mode parse_plan_mode(const std::string& text);

/// The forward and backward FFTW-MPI plans of one slab geometry over one communicator; apply to any field of it.
class r2c_plans final : public transforms {
 public:
  /// Collective. Plans with `scratch` (its contents are destroyed when planning with measure).
  r2c_plans(const communicator& comm, field& scratch, plan_mode mode);
  ~r2c_plans() override;
  // Owns two fftw_plan handles.
  r2c_plans(const r2c_plans&) = delete;
  r2c_plans& operator=(const r2c_plans&) = delete;
  r2c_plans(r2c_plans&&) = delete;
  r2c_plans& operator=(r2c_plans&&) = delete;

  /// Collective: real -> Fourier (transposed out), unnormalised.
  void forward(field& f) const override;
  /// Collective: Fourier (transposed in) -> real, unnormalised (multiply by 1/N^d for the inverse).
  void backward(field& f) const override;
  /// Seconds spent planning (this rank).
  [[nodiscard]] double planning_seconds() const noexcept { return planning_s_; }

 private:
  fftw_plan forward_ = nullptr;
  fftw_plan backward_ = nullptr;
  double planning_s_ = 0;
};

/// Collective: root reads FFTW wisdom from `path` if it exists and every rank receives it
/// (fftw_mpi_broadcast_wisdom). Returns whether root found the file.
bool load_wisdom(const communicator& comm, const std::string& path);
/// Collective: checks, before any work, that root can write wisdom to `path`; throws plx::config_error
/// (naming --wisdom) on every rank if not.
void check_wisdom_path(const communicator& comm, const std::string& path);
/// Collective: gathers every rank's wisdom and root writes it to `path` (temporary name, then rename).
void save_wisdom(const communicator& comm, const std::string& path);

}  // namespace plx::fft
