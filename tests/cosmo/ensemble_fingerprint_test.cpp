// What a resume compares: every option a realization depends on changes the fingerprint, nothing else does.
#include <parallax/cosmo/ensemble.hpp>

#include <string>

#include <gtest/gtest.h>

namespace {

namespace cosmo = plx::cosmo;

TEST(EnsembleFingerprint, changes_with_every_option_a_realization_depends_on) {
  cosmo::pipeline_params base;
  base.spectrum.model = "eisenstein-hu";
  const std::string reference = cosmo::ensemble_fingerprint(base);
  const auto differs = [&](auto&& change) {
    cosmo::pipeline_params p = base;
    change(p);
    return cosmo::ensemble_fingerprint(p) != reference;
  };
  EXPECT_TRUE(differs([](auto& p) { p.dim = 3; }));
  EXPECT_TRUE(differs([](auto& p) { p.n = 128; }));
  EXPECT_TRUE(differs([](auto& p) { p.box = 50.000000000001; }));
  EXPECT_TRUE(differs([](auto& p) { p.seed = 43; }));
  EXPECT_TRUE(differs([](auto& p) { p.normalisation = "none"; }));
  EXPECT_TRUE(differs([](auto& p) { p.times = {0.5}; }));
  EXPECT_TRUE(differs([](auto& p) { p.spectrum.h = 0.7; }));
  EXPECT_TRUE(differs([](auto& p) { p.spectrum.sigma_8 = 0.8; }));  // eisenstein-hu's amplitude
  // The output, overwriting and FFTW planning change no realization.
  EXPECT_FALSE(differs([](auto& p) { p.out = "other.h5"; }));
  EXPECT_FALSE(differs([](auto& p) { p.force = true; }));
  EXPECT_FALSE(differs([](auto& p) { p.wisdom = "w.fftw"; }));
  EXPECT_FALSE(differs([](auto& p) { p.spectrum.amplitude = 3.0; }));  // a powerlaw parameter
}

}  // namespace
