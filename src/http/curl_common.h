// What client.cc and stream_client.cc share about libcurl handles (internal
// to the HTTP layer).
#pragma once

#include <curl/curl.h>

#include <string>

namespace duende::http::internal {

// Sets the CA file or directory (`ca_path`; empty: libcurl's default, the
// system store) and an error buffer that receives the detail of a failure,
// such as why a certificate was refused. Peer and host name verification
// stay on (libcurl's default); nothing here turns them off.
void SetTlsOptions(CURL* curl, const std::string& ca_path, char (&error_buffer)[CURL_ERROR_SIZE]);

// One line for a failed transfer: the error buffer when it says something,
// else libcurl's text for `code`.
std::string DescribeCurlError(CURLcode code, const char (&error_buffer)[CURL_ERROR_SIZE]);

}  // namespace duende::http::internal
