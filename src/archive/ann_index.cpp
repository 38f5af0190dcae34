#include "archive/ann_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string_view>
#include <unordered_set>

#include "archive/postgres_store.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/store_location.h"
#include "core/parallel.h"

namespace oneshot::archive {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kMagic = "ONESHOT-ANN\n";
constexpr std::uint32_t kVersion = 2;  // 2: the archive's identity after the fingerprint
constexpr std::size_t kMaxCandidates = 100000;
constexpr int kMaxEf = 100000;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// faiss::write_index into a string (no second copy of the index).
struct StringWriter : faiss::IOWriter {
  std::string* out;
  explicit StringWriter(std::string* o) : out(o) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    out->append(static_cast<const char*>(ptr), size * nitems);
    return nitems;
  }
};

// faiss::read_index from memory (the mapped file), never past its end.
struct MemoryReader : faiss::IOReader {
  const char* data;
  std::size_t size, at = 0;
  MemoryReader(const char* d, std::size_t n) : data(d), size(n) {}
  size_t operator()(void* ptr, size_t item, size_t nitems) override {
    if (item == 0) return 0;
    const std::size_t n = std::min(nitems, (size - at) / item);
    std::memcpy(ptr, data + at, n * item);
    at += n * item;
    return n;
  }
};

// A read-only mapping of a whole file.
struct Mapping {
  const char* data = nullptr;
  std::size_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data && size) ::munmap(const_cast<char*>(data), size);
  }
};

int resolve_omp(int threads) { return resolve_threads(threads); }

}  // namespace

AnnKind parse_ann_kind(const std::string& name) {
  if (name == "hnsw") return AnnKind::hnsw;
  if (name == "ivf") return AnnKind::ivf;
  throw Error("--ann must be hnsw or ivf, got \"" + name + "\"");
}

const char* ann_kind_name(AnnKind kind) { return kind == AnnKind::hnsw ? "hnsw" : "ivf"; }

std::string default_ann_path(const std::string& location) {
  if (is_postgres_url(location))
    throw Error("a PostgreSQL archive keeps its approximate index in a file: name it with --ann-file PATH (the same "
                "path for `index --ann` and `search --approx`)");
  return location + ".ann";
}

AnnCoverage coverage_of(const std::vector<std::int64_t>& ids) {
  AnnCoverage c;
  c.count = static_cast<std::int64_t>(ids.size());
  c.max_id = ids.empty() ? 0 : ids.back();
  c.ids_hash = XXH3_64bits(ids.data(), ids.size() * sizeof(std::int64_t));
  return c;
}

// ---------------------------------------------------------------------------------------------
// Building.

AnnBuildReport build_ann_index(const ArchiveStore& store, const std::string& path, const AnnBuildOptions& options) {
  const ArchiveModel model = store.model();
  const auto dim = static_cast<std::size_t>(model.embedding_dim);
  if (dim == 0) throw file_error(store.location(), "the archive records no embedding size (damaged)");
  if (options.hnsw_m < 2 || options.hnsw_m > 256) throw Error("internal: HNSW M must be 2..256");
  // Only an approximate index is replaced: --ann-file ARCHIVE replaced the
  // archive (its reviews with it), --ann-file REC.wav a recording. Said
  // before the output rules, which would name a database but not what to give.
  {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
      std::ifstream in(path, std::ios::binary);
      std::string head(kMagic.size(), '\0');
      in.read(head.data(), static_cast<std::streamsize>(head.size()));
      if (!in || head != kMagic)
        throw file_error(path, "exists and is not an approximate index of oneshot-audio (no ONESHOT-ANN header): "
                               "give --ann-file a new file name (or the path of an old index, which is replaced)");
    }
  }
  check_output_path(path, OutputRules{.streaming = false, .create_parents = false});
  AnnBuildReport report;
  report.path = path;
  report.kind = options.kind;

  // Every stored window, in id order, in one snapshot.
  auto t = std::chrono::steady_clock::now();
  std::vector<std::int64_t> ids;
  std::vector<float> x;
  store.scan(8192, [&](const WindowBlock& b) {
    ids.insert(ids.end(), b.ids.begin(), b.ids.end());
    x.insert(x.end(), b.embeddings.begin(), b.embeddings.end());
  });
  report.read_seconds = seconds_since(t);
  const std::size_t n = ids.size();
  if (n == 0)
    throw file_error(store.location(), "the archive holds no windows yet: index recordings first, then build the "
                                       "approximate index");
  if (!std::is_sorted(ids.begin(), ids.end()) || std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    throw Error("internal: the archive's scan gave window ids out of order");
  report.windows = static_cast<std::int64_t>(n);

  t = std::chrono::steady_clock::now();
  const int threads = resolve_omp(options.threads);
  const int omp_before = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::unique_ptr<faiss::Index> index;
  std::size_t nlist = 0;
  try {
    if (options.kind == AnnKind::hnsw) {
      auto* hnsw = new faiss::IndexHNSWFlat(static_cast<int>(dim), options.hnsw_m);
      hnsw->hnsw.efConstruction = options.ef_construction;
      auto map = std::make_unique<faiss::IndexIDMap2>(hnsw);
      map->own_fields = true;
      map->add_with_ids(static_cast<faiss::Index::idx_t>(n), x.data(), ids.data());
      index = std::move(map);
    } else {
      nlist = options.nlist;
      if (nlist == 0) nlist = static_cast<std::size_t>(std::llround(std::sqrt(static_cast<double>(n))));
      nlist = std::clamp<std::size_t>(nlist, 1, std::max<std::size_t>(n / 39, 1));
      auto* quantizer = new faiss::IndexFlatL2(static_cast<int>(dim));
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, static_cast<std::size_t>(dim), nlist);
      ivf->own_fields = true;
      ivf->cp.seed = 1234;  // reproducible lists
      // nlist is clamped to at most n / 39 (or 1): faiss's warning about too few training points a list
      // would only say that a small archive has few windows.
      ivf->cp.min_points_per_centroid = 1;
      ivf->train(static_cast<faiss::Index::idx_t>(n), x.data());
      ivf->add_with_ids(static_cast<faiss::Index::idx_t>(n), x.data(), ids.data());
      index = std::move(ivf);
    }
  } catch (const std::exception& e) {
    omp_set_num_threads(omp_before);
    throw file_error(store.location(), std::string("cannot build the approximate index (faiss: ") + e.what() + ")");
  }
  omp_set_num_threads(omp_before);
  report.build_seconds = seconds_since(t);
  report.nlist = nlist;
  x.clear();
  x.shrink_to_fit();

  const AnnCoverage cov = coverage_of(ids);
  std::string out;
  out.append(kMagic);
  put(out, kVersion);
  put(out, static_cast<std::uint32_t>(options.kind == AnnKind::hnsw ? 0 : 1));
  put(out, static_cast<std::int64_t>(dim));
  put(out, cov.count);
  put(out, cov.max_id);
  put(out, cov.ids_hash);
  put(out, static_cast<std::uint64_t>(nlist));
  put(out, static_cast<std::uint32_t>(model.fingerprint.size()));
  out.append(model.fingerprint);
  put(out, static_cast<std::uint32_t>(model.id.size()));
  out.append(model.id);
  out.append(reinterpret_cast<const char*>(ids.data()), n * sizeof(std::int64_t));
  const std::size_t size_at = out.size();
  put(out, std::uint64_t{0});
  try {
    StringWriter writer(&out);
    faiss::write_index(index.get(), &writer);
  } catch (const std::exception& e) {
    throw file_error(path, std::string("cannot serialise the approximate index (faiss: ") + e.what() + ")");
  }
  const std::uint64_t blob = out.size() - size_at - sizeof(std::uint64_t);
  std::memcpy(out.data() + size_at, &blob, sizeof blob);
  index.reset();
  put(out, static_cast<std::uint64_t>(XXH3_64bits(out.data(), out.size())));
  write_file_atomic(path, out);
  report.bytes = out.size();
  return report;
}

// ---------------------------------------------------------------------------------------------
// Loading.

struct AnnIndex::Impl {
  std::string path;
  AnnKind kind = AnnKind::hnsw;
  std::size_t dim = 0, nlist = 0;
  AnnCoverage coverage;
  std::vector<std::int64_t> ids;
  std::unique_ptr<faiss::Index> index;
  faiss::IndexHNSW* hnsw = nullptr;  // inside index (HNSW)
  faiss::IndexIVF* ivf = nullptr;    // index itself (IVF)
};

AnnIndex::AnnIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AnnIndex::AnnIndex(AnnIndex&&) noexcept = default;
AnnIndex& AnnIndex::operator=(AnnIndex&&) noexcept = default;
AnnIndex::~AnnIndex() = default;
AnnKind AnnIndex::kind() const { return impl_->kind; }
std::size_t AnnIndex::nlist() const { return impl_->nlist; }
const std::vector<std::int64_t>& AnnIndex::ids() const { return impl_->ids; }
const AnnCoverage& AnnIndex::coverage() const { return impl_->coverage; }
const std::string& AnnIndex::path() const { return impl_->path; }

AnnIndex AnnIndex::load(const std::string& path, const ArchiveModel& model, const std::string& archive_location) {
  // The way out names the index's file where `index` would not find it by itself (a PostgreSQL archive's, --ann-file).
  const bool named = is_postgres_url(archive_location) || path != archive_location + ".ann";
  const std::string rebuild = "build it again with `oneshot-audio index --archive " + archive_location + " --ann hnsw" +
                              (named ? " --ann-file " + path : std::string()) + "` (or ivf)";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      throw file_error(path, "no approximate index for the archive " + archive_location +
                                 ": build one with `oneshot-audio index --archive " + archive_location +
                                 " --ann hnsw` (or ivf), or search exactly (leave --approx out)");
    throw file_error(path, std::string("cannot open the approximate index (") + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw file_error(path, "is not a regular file (an approximate index is one)");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  Mapping map;
  map.size = static_cast<std::size_t>(st.st_size);
  auto damaged = [&](const std::string& why) -> Error {
    return file_error(path, "the approximate index is damaged (" + why + "): " + rebuild);
  };
  if (map.size < kMagic.size() + 8) {
    ::close(fd);
    throw damaged("only " + std::to_string(map.size) + " bytes");
  }
  void* p = ::mmap(nullptr, map.size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw file_error(path, std::string("cannot map the approximate index (") + std::strerror(errno) + ")");
  map.data = static_cast<const char*>(p);
  if (std::string_view(map.data, kMagic.size()) != kMagic)
    throw file_error(path, "is not an approximate index of oneshot-audio (no ONESHOT-ANN header): " + rebuild);
  std::uint64_t sum;
  std::memcpy(&sum, map.data + map.size - 8, 8);
  if (XXH3_64bits(map.data, map.size - 8) != sum) throw damaged("its checksum does not match its contents: a truncated or changed file");
  // The checksum holds; the fields are still checked against the length before use.
  std::size_t at = kMagic.size();
  const std::size_t end = map.size - 8;
  auto take = [&](void* out, std::size_t n, const char* what) {
    if (n > end - at) throw damaged(std::string("it ends inside ") + what);
    std::memcpy(out, map.data + at, n);
    at += n;
  };
  std::uint32_t version = 0, kind = 0, fp_len = 0;
  std::int64_t dim = 0;
  std::uint64_t nlist = 0, blob = 0;
  take(&version, 4, "its header");
  if (version != kVersion)
    throw file_error(path, "is an approximate index of format " + std::to_string(version) + ", not " +
                               std::to_string(kVersion) + ": " + rebuild);
  take(&kind, 4, "its header");
  take(&dim, 8, "its header");
  take(&impl->coverage.count, 8, "its header");
  take(&impl->coverage.max_id, 8, "its header");
  take(&impl->coverage.ids_hash, 8, "its header");
  take(&nlist, 8, "its header");
  take(&fp_len, 4, "its header");
  if (kind > 1) throw damaged("index kind " + std::to_string(kind));
  impl->kind = kind == 0 ? AnnKind::hnsw : AnnKind::ivf;
  if (fp_len > 4096) throw damaged("a fingerprint of " + std::to_string(fp_len) + " bytes");
  std::string fingerprint(fp_len, '\0');
  take(fingerprint.data(), fp_len, "its fingerprint");
  if (fingerprint != model.fingerprint)
    throw file_error(path, "the approximate index was built for model " + fingerprint + ", but the archive " +
                               archive_location + " holds embeddings of model " + model.fingerprint + ": " + rebuild);
  std::uint32_t id_len = 0;
  take(&id_len, 4, "its header");
  if (id_len > 256) throw damaged("an archive identity of " + std::to_string(id_len) + " bytes");
  std::string archive_id(id_len, '\0');
  take(archive_id.data(), id_len, "its archive identity");
  if (archive_id != model.id)
    throw file_error(path, "the approximate index was built for another archive (identity " +
                               (archive_id.empty() ? std::string("none") : archive_id) + ") than " + archive_location +
                               " (identity " + (model.id.empty() ? std::string("none") : model.id) +
                               "): one left from a deleted archive, or copied from another: " + rebuild);
  if (dim != model.embedding_dim)
    throw file_error(path, "the approximate index holds embeddings of " + std::to_string(dim) +
                               " values, the archive's have " + std::to_string(model.embedding_dim) + ": " + rebuild);
  if (impl->coverage.count < 1 ||
      static_cast<std::uint64_t>(impl->coverage.count) > (end - at) / sizeof(std::int64_t))
    throw damaged("it claims " + std::to_string(impl->coverage.count) + " windows");
  impl->ids.resize(static_cast<std::size_t>(impl->coverage.count));
  take(impl->ids.data(), impl->ids.size() * sizeof(std::int64_t), "its window ids");
  if (!(coverage_of(impl->ids) == impl->coverage)) throw damaged("its window ids do not match its header");
  if (!std::is_sorted(impl->ids.begin(), impl->ids.end())) throw damaged("its window ids are out of order");
  take(&blob, 8, "its header");
  if (blob != end - at) throw damaged("its faiss part has " + std::to_string(end - at) + " bytes, not " + std::to_string(blob));
  impl->dim = static_cast<std::size_t>(dim);
  impl->nlist = static_cast<std::size_t>(nlist);
  try {
    MemoryReader reader(map.data + at, static_cast<std::size_t>(blob));
    impl->index.reset(faiss::read_index(&reader));
  } catch (const std::exception& e) {
    throw damaged(std::string("faiss cannot read it: ") + e.what());
  }
  faiss::Index* idx = impl->index.get();
  if (!idx || idx->d != dim || idx->ntotal != impl->coverage.count)
    throw damaged("its faiss index does not hold the " + std::to_string(impl->coverage.count) + " windows of " +
                  std::to_string(dim) + " values its header names");
  if (impl->kind == AnnKind::hnsw) {
    auto* m = dynamic_cast<faiss::IndexIDMap2*>(idx);
    impl->hnsw = m ? dynamic_cast<faiss::IndexHNSW*>(m->index) : nullptr;
    if (!impl->hnsw) throw damaged("its faiss index is not the HNSW index its header names");
  } else {
    impl->ivf = dynamic_cast<faiss::IndexIVF*>(idx);
    if (!impl->ivf || impl->ivf->nlist != impl->nlist) throw damaged("its faiss index is not the IVF index its header names");
  }
  return AnnIndex(std::move(impl));
}

std::vector<std::int64_t> AnnIndex::neighbours(const float* queries, std::size_t nq, std::size_t k, int ef, int nprobe,
                                               int threads) const {
  std::vector<std::int64_t> labels(nq * k, -1);
  if (nq == 0 || k == 0) return labels;
  std::vector<float> distances(nq * k);
  const int omp_before = omp_get_max_threads();
  omp_set_num_threads(resolve_omp(threads));
  try {
    if (impl_->hnsw) impl_->hnsw->hnsw.efSearch = std::max(ef, static_cast<int>(k));
    if (impl_->ivf) impl_->ivf->nprobe = static_cast<std::size_t>(nprobe);
    impl_->index->search(static_cast<faiss::Index::idx_t>(nq), queries, static_cast<faiss::Index::idx_t>(k), distances.data(),
                         labels.data());
  } catch (const std::exception& e) {
    omp_set_num_threads(omp_before);
    throw file_error(impl_->path, std::string("the approximate index failed to search (faiss: ") + e.what() + ")");
  }
  omp_set_num_threads(omp_before);
  return labels;
}

// ---------------------------------------------------------------------------------------------
// Searching.

std::vector<ScoredWindow> approx_top_k(const ArchiveStore& store, const AnnIndex& index, const float* queries,
                                       std::size_t nq, const BlockScorer& scorer, const SearchOptions& options,
                                       const AnnSearchOptions& ann, ApproxStats* stats) {
  const auto started = std::chrono::steady_clock::now();
  if (options.dim == 0) throw Error("internal: approx_top_k needs the embedding size");
  if (nq == 0) throw Error("internal: approx_top_k needs at least one query vector");
  // The knobs, checked.
  std::size_t candidates = ann.candidates ? ann.candidates : std::max<std::size_t>(100, 10 * options.top_k);
  if (candidates > kMaxCandidates)
    throw Error("--candidates must be between 1 and " + std::to_string(kMaxCandidates) + ", got " + std::to_string(candidates));
  if (ann.ef < 0 || ann.ef > kMaxEf)
    throw Error("--ef must be between 1 and " + std::to_string(kMaxEf) + ", got " + std::to_string(ann.ef));
  if (ann.nprobe < 0 || (index.kind() == AnnKind::ivf && static_cast<std::size_t>(ann.nprobe) > index.nlist()))
    throw Error("--nprobe must be between 1 and the index's " + std::to_string(index.nlist()) + " lists, got " +
                std::to_string(ann.nprobe));
  const int ef = ann.ef ? ann.ef : std::max<int>(128, static_cast<int>(candidates));
  const int nprobe = ann.nprobe ? ann.nprobe : static_cast<int>(std::min<std::size_t>(index.nlist(), 16));
  ApproxStats st;
  st.ef = index.kind() == AnnKind::hnsw ? std::max<int>(ef, static_cast<int>(candidates)) : 0;
  st.nprobe = index.kind() == AnnKind::ivf ? nprobe : 0;
  st.candidates = candidates;

  // The store's windows against the index's.
  const std::vector<std::int64_t> stored = store.window_ids();
  const std::vector<std::int64_t>& covered = index.ids();
  std::vector<std::int64_t> uncovered, gone;
  if (!(coverage_of(stored) == index.coverage())) {
    std::set_difference(stored.begin(), stored.end(), covered.begin(), covered.end(), std::back_inserter(uncovered));
    std::set_difference(covered.begin(), covered.end(), stored.begin(), stored.end(), std::back_inserter(gone));
  }
  st.uncovered = static_cast<std::int64_t>(uncovered.size());
  st.gone = static_cast<std::int64_t>(gone.size());
  st.covered = static_cast<std::int64_t>(stored.size() - uncovered.size());

  auto finish = [&](std::vector<ScoredWindow> out) {
    st.seconds = seconds_since(started);
    if (stats) *stats = st;
    return out;
  };
  // Too stale: fetching a quarter of the archive by id is slower than scanning it.
  if (uncovered.size() * 4 > stored.size()) {
    st.fell_back = true;
    SearchStats es;
    auto top = exact_top_k([&](std::size_t block, const std::function<void(const WindowBlock&)>& f) { store.scan(block, f); },
                           scorer, options, &es);
    st.scored = es.windows;
    return finish(std::move(top));
  }

  // Candidates: each query's nearest covered windows, and with several query vectors those of their
  // mean too (a score averaged over the queries, as an example's, is best near their mean: for a
  // squared-L2 head exactly there); room for the windows left out (dropped, reviewed).
  std::vector<float> q(queries, queries + nq * options.dim);
  if (nq > 1) {
    std::vector<double> mean(options.dim, 0.0);
    for (std::size_t i = 0; i < nq; ++i)
      for (std::size_t d = 0; d < options.dim; ++d) mean[d] += queries[i * options.dim + d];
    for (std::size_t d = 0; d < options.dim; ++d) q.push_back(static_cast<float>(mean[d] / static_cast<double>(nq)));
    ++nq;
  }
  const std::size_t k = std::min<std::size_t>(candidates + gone.size() + options.exclude.size(), covered.size());
  const std::vector<std::int64_t> labels = index.neighbours(q.data(), nq, k, ef, nprobe, options.threads);
  std::unordered_set<std::int64_t> gone_set(gone.begin(), gone.end());
  std::vector<std::int64_t> want;
  {
    std::unordered_set<std::int64_t> seen;
    for (std::size_t q = 0; q < nq; ++q) {
      std::size_t kept = 0;
      for (std::size_t j = 0; j < k && kept < candidates; ++j) {
        const std::int64_t id = labels[q * k + j];
        if (id < 0 || gone_set.count(id) || options.exclude.count(id)) continue;
        ++kept;
        if (seen.insert(id).second) want.push_back(id);
      }
    }
  }
  for (std::int64_t id : uncovered)
    if (!options.exclude.count(id)) want.push_back(id);

  // Fetched by id and scored exactly, a chunk at a time.
  TopK top(options.top_k);
  constexpr std::size_t kFetch = 4096;
  std::vector<double> scores;
  std::vector<float> e;
  for (std::size_t from = 0; from < want.size(); from += kFetch) {
    const std::vector<std::int64_t> part(want.begin() + static_cast<std::ptrdiff_t>(from),
                                         want.begin() + static_cast<std::ptrdiff_t>(std::min(want.size(), from + kFetch)));
    const std::vector<StoredWindow> w = store.windows(part);
    e.resize(w.size() * options.dim);
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i].embedding.size() != options.dim)
        throw Error("internal: a stored window of " + std::to_string(w[i].embedding.size()) + " values, not " +
                    std::to_string(options.dim));
      std::copy(w[i].embedding.begin(), w[i].embedding.end(), e.begin() + static_cast<std::ptrdiff_t>(i * options.dim));
    }
    scores.assign(w.size(), std::numeric_limits<double>::quiet_NaN());
    scorer(e.data(), w.size(), scores.data());
    for (std::size_t i = 0; i < w.size(); ++i) top.offer({scores[i], w[i].id, w[i].file_id, w[i].start_s});
    st.scored += static_cast<std::int64_t>(w.size());
  }
  return finish(top.sorted());
}

}  // namespace oneshot::archive
