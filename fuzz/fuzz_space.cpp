// Search spaces (tune/space: --space FILE, a study's stored space): a space
// that round-trips through its JSON form and samples, or an Error naming the
// file.
#include "core/config.h"
#include "fuzz_support.h"
#include "tune/rng.h"
#include "tune/space.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  using namespace oneshot::tune;
  const auto path = fuzz::write_input(data, size, "space.toml");
  fuzz::expect_clean("SearchSpace::load", [&] {
    const SearchSpace space = SearchSpace::load(path);
    const SearchSpace again = SearchSpace::from_json(space.to_json());
    fuzz::require(again == space, "a space reads back from its JSON form");
    Rng rng(7);
    for (int i = 0; i < 4; ++i) {
      const Overrides o = space.sample_prior(rng);
      for (const Param& p : space.params()) (void)p.encode(o.at(p.name));
    }
    space.check_against_config("space.toml");
  });
  return 0;
}
