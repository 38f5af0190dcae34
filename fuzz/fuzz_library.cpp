// Class libraries (enroll/library: a SQLite file): open and read everything
// a command reads (model, calibration, settings, cohort, classes, examples),
// or an Error naming the file. Every example read has the library's
// embedding size.
#include "enroll/library.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oneshot;
  const auto path = fuzz::write_input(data, size, "sounds.db");
  std::error_code ec;
  for (const char* suffix : {"-journal", "-wal", "-shm"})
    std::filesystem::remove(path.string() + suffix, ec);  // a previous input's
  fuzz::expect_clean("ClassLibrary", [&] {
    ClassLibrary library = ClassLibrary::open(path);
    const LibraryModel model = library.model();
    (void)library.run_directory();
    (void)library.calibration();
    (void)library.settings();
    for (const CohortMember& m : library.cohort())
      fuzz::require(static_cast<std::int64_t>(m.embedding.size()) == model.embedding_dim, "cohort embedding size");
    (void)positive_classes(library.classes());
    for (const LibraryExample& e : library.examples())
      fuzz::require(static_cast<std::int64_t>(e.embedding.size()) == model.embedding_dim, "example embedding size");
  });
  return 0;
}
