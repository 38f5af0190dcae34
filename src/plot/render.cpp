#include "plot/render.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include <string>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"

namespace oneshot {
namespace fs = std::filesystem;

namespace {

// PLplot's own exit path would end the program; turn its errors into exceptions.
int throw_plplot_error(const char* message) { throw Error(std::string("PLplot: ") + message); }

void require_driver(plstream& pls, const std::string& name) {
  // PLplot fills caller-owned arrays; *n is their capacity on input.
  std::vector<const char*> menu(256), names(256);
  const char** menu_ptr = menu.data();
  const char** names_ptr = names.data();
  int n = static_cast<int>(names.size());
  pls.gFileDevs(&menu_ptr, &names_ptr, &n);
  for (int i = 0; i < n; ++i)
    if (name == names[i]) return;
  throw Error("PLplot has no '" + name + "' output driver (Debian: install plplot-driver-cairo)");
}

void set_cmap0(plstream& pls, const std::vector<Rgb>& colours) {
  std::vector<PLINT> r{255, 0, 200}, g{255, 0, 200}, b{255, 0, 200};
  for (const auto& c : colours) {
    r.push_back(c[0]);
    g.push_back(c[1]);
    b.push_back(c[2]);
  }
  pls.scmap0(r.data(), g.data(), b.data(), static_cast<PLINT>(r.size()));
}

// Whether BYTES are a whole file of DRIVER's format: PLplot ignores a failed
// write (a full disk), and a file cut short must not replace a good one.
bool complete_output(const std::string& driver, const std::string& bytes) {
  if (bytes.empty()) return false;
  if (driver == "pngcairo") {
    static const std::string iend("IEND\xae\x42\x60\x82", 8);
    return bytes.size() >= 8 && bytes.compare(bytes.size() - iend.size(), iend.size(), iend) == 0;
  }
  const auto end = bytes.find_last_not_of(" \t\r\n");
  return end != std::string::npos && end >= 5 && bytes.compare(end - 5, 6, "</svg>") == 0;
}

// PLplot writes the file itself, by name: into the AtomicWriter's temporary
// beside the target (renamed over it on commit), or, for a target that is a
// stream (a pipe, a device), into a file of its own in the temporary directory,
// whose bytes are then written through.
void render_one(const std::string& driver, const fs::path& target, PlotSize size, const std::vector<Rgb>& colours,
                const std::function<void(plstream&)>& draw, const std::function<void(plstream&)>& prepare) {
  AtomicWriter out(target);
  const fs::path temp = out.streaming() ? fs::temp_directory_path() / ("oneshot-plot-" + std::to_string(::getpid()) +
                                                                       "-" + target.filename().string())
                                        : out.temp_path();
  auto drop_own_temp = [&] {
    std::error_code ignored;
    if (out.streaming()) fs::remove(temp, ignored);
  };
  try {
    plstream pls;
    pls.sexit(throw_plplot_error);
    // The svg driver ships with libplplot itself (and gFileDevs does not list
    // it); pngcairo comes with a separate package that may be missing.
    if (driver == "pngcairo") require_driver(pls, driver);
    pls.sdev(driver.c_str());
    pls.sfnam(temp.c_str());
    pls.spage(0, 0, size.width, size.height, 0, 0);
    set_cmap0(pls, colours);
    if (prepare) prepare(pls);
    pls.init();
    pls.adv(0);
    pls.col0(kPlotBlack);
    draw(pls);
  } catch (...) {  // the stream's destructor has written what it had: dropped with the writer
    drop_own_temp();
    throw;
  }  // on success the destructor finishes and closes the file
  std::string bytes;
  try {
    bytes = read_file(temp);
  } catch (...) {
    drop_own_temp();
    throw;
  }
  drop_own_temp();
  if (!complete_output(driver, bytes)) {
    struct statvfs vfs {};
    const fs::path dir = temp.parent_path().empty() ? fs::path(".") : temp.parent_path();
    if (::statvfs(dir.c_str(), &vfs) == 0 && vfs.f_bavail == 0) throw write_error(target, ENOSPC);
    throw file_error(target, bytes.empty() ? "PLplot wrote an empty file" : "PLplot wrote an incomplete file");
  }
  if (out.streaming()) out.write(bytes);
  out.commit();
}

}  // namespace

PlotFiles render_plot(const fs::path& stem, PlotSize size, const std::vector<Rgb>& colours,
                      const std::function<void(plstream&)>& draw, const std::function<void(plstream&)>& prepare) {
  if (size.width < 64 || size.height < 64) throw Error("plot size must be at least 64 x 64");
  PlotFiles files{fs::path(stem.string() + ".png"), fs::path(stem.string() + ".svg")};
  render_one("pngcairo", files.png, size, colours, draw, prepare);
  render_one("svg", files.svg, size, colours, draw, prepare);
  return files;
}

}  // namespace oneshot
