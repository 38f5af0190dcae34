#include "plot/render.h"

#include <unistd.h>

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

// PLplot writes the file itself: into a temporary name, then moved into place atomically.
void render_one(const std::string& driver, const fs::path& target, PlotSize size, const std::vector<Rgb>& colours,
                const std::function<void(plstream&)>& draw, const std::function<void(plstream&)>& prepare) {
  const fs::path temp =
      target.parent_path() / ("." + target.filename().string() + ".plot-" + std::to_string(::getpid()));
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
  } catch (...) {  // the stream's destructor has written what it had: drop it
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }  // on success the destructor finishes and closes the file
  std::string bytes;
  try {
    bytes = read_file(temp);
  } catch (...) {
    fs::remove(temp);
    throw;
  }
  fs::remove(temp);
  if (bytes.empty()) throw file_error(target, "PLplot wrote an empty file");
  write_file_atomic(target, bytes);
}

}  // namespace

PlotFiles render_plot(const fs::path& stem, PlotSize size, const std::vector<Rgb>& colours,
                      const std::function<void(plstream&)>& draw, const std::function<void(plstream&)>& prepare) {
  if (size.width < 64 || size.height < 64) throw Error("plot size must be at least 64 x 64");
  if (!stem.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(stem.parent_path(), ec);
    if (ec) throw file_error(stem.parent_path(), "cannot create directory: " + ec.message());
  }
  PlotFiles files{fs::path(stem.string() + ".png"), fs::path(stem.string() + ".svg")};
  render_one("pngcairo", files.png, size, colours, draw, prepare);
  render_one("svg", files.svg, size, colours, draw, prepare);
  return files;
}

}  // namespace oneshot
