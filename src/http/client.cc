#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>

#include "http/curl_common.h"
#include "http/http.h"

namespace duende::http {

namespace internal {

void SetTlsOptions(CURL* curl, const std::string& ca_path, char (&error_buffer)[CURL_ERROR_SIZE]) {
  error_buffer[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  if (ca_path.empty()) return;
  struct stat st {};
  const bool dir = ::stat(ca_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  // Only the private CA is trusted then: a farm with its own CA should not
  // also accept any certificate a public CA signed for the name.
  curl_easy_setopt(curl, dir ? CURLOPT_CAPATH : CURLOPT_CAINFO, ca_path.c_str());
  curl_easy_setopt(curl, dir ? CURLOPT_CAINFO : CURLOPT_CAPATH, nullptr);
}

std::string DescribeCurlError(CURLcode code, const char (&error_buffer)[CURL_ERROR_SIZE]) {
  std::string detail(error_buffer);
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
  return detail.empty() ? std::string(curl_easy_strerror(code)) : detail;
}

}  // namespace internal

Status CheckCaPath(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || ::access(path.c_str(), R_OK) != 0)
    return InvalidArgument("cannot read the CA certificates at " + path);
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return InvalidArgument("the CA path " + path + " is neither a file nor a directory");
  return Ok();
}

namespace {

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  auto* headers = static_cast<Headers*>(user);
  if (line.starts_with("HTTP/")) {
    headers->clear();  // a new response (e.g. after 100-continue) starts over
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  headers->emplace_back(std::move(name), std::string(value));
  return size * n;
}

class CurlClient final : public Client {
 public:
  CurlClient(std::string user_agent, ClientOptions options)
      : user_agent_(std::move(user_agent)), options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<ClientResponse> Send(const ClientRequest& request) override {
    // One handle per thread and client keeps connections alive (libcurl's
    // connection cache lives in the easy handle).
    struct Handles {
      std::vector<std::pair<const CurlClient*, CURL*>> list;
      ~Handles() {
        for (auto& [owner, h] : list) curl_easy_cleanup(h);
      }
    };
    thread_local Handles handles;
    CURL* curl = nullptr;
    for (auto& [owner, h] : handles.list)
      if (owner == this) curl = h;
    if (!curl) {
      curl = curl_easy_init();
      if (!curl) return Internal("curl_easy_init failed");
      handles.list.emplace_back(this, curl);
    } else {
      curl_easy_reset(curl);
    }
    ClientResponse response;
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent_.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(request.timeout_ms, 5000));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    char error_buffer[CURL_ERROR_SIZE];
    internal::SetTlsOptions(curl, request.ca_path.empty() ? options_.ca_path : request.ca_path, error_buffer);
    if (request.method == "GET") {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    std::string userpwd;
    if (!request.user.empty()) {
      userpwd = request.user + ":" + request.password;
      curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
    }
    curl_slist* list = nullptr;
    bool has_content_type = false;
    for (const auto& [k, v] : request.headers) {
      if (k == "Content-Type" || k == "content-type") has_content_type = true;
      list = curl_slist_append(list, (k + ": " + v).c_str());
    }
    if (!has_content_type && !request.body.empty()) list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    const CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(list);
    // The handle is reused: it must not keep a pointer to this frame.
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
    if (rc != CURLE_OK)
      return Unavailable(request.method + " " + request.url + ": " + internal::DescribeCurlError(rc, error_buffer));
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
  }

 private:
  std::string user_agent_;
  ClientOptions options_;
};

}  // namespace

std::unique_ptr<Client> MakeCurlClient(std::string user_agent, ClientOptions options) {
  return std::make_unique<CurlClient>(std::move(user_agent), std::move(options));
}

}  // namespace duende::http
