// The list of registered families (see registry.h) and the one-time fill at import.
#include "core/registry.h"

namespace fl {

namespace {
std::vector<FamilyRegistration>& families() {
  static std::vector<FamilyRegistration> list;
  return list;
}
}  // namespace

bool register_family(const char* name, void (*fill)()) {
  families().push_back({name, fill});
  return true;
}

void init_kernel_tables() {
  for (const auto& f : families()) f.fill();
}

std::vector<std::string> registered_families() {
  std::vector<std::string> names;
  for (const auto& f : families()) names.emplace_back(f.name);
  return names;
}

}  // namespace fl
