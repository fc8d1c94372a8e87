// `tokengrid batch`: a gateway's batch API from the terminal (batch_client.h).
//
//   submit FILE.jsonl   uploads the file, creates the batch, prints its id on stdout; with
//                       `wait`, follows it to its end with a progress bar on stderr (only when
//                       stderr is a terminal) and downloads its output (and error) file
//   status ID           one line: status, requests done of the total, the files
//   cancel ID           asks the gateway to cancel, prints the status it answers
//   list                the key's batches, newest first
//
// Every function returns the process exit code: 0, or 1 with a message on stderr that says
// what was wrong and what to do (a batch that ends failed, expired or cancelled is 1 too).
#pragma once

#include <string>

#include "gateway/batch_client.h"

namespace tokengrid::gateway {

struct BatchCommandOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string key;
  double timeout_s = 60;  // per HTTP request
};

struct BatchSubmitOptions {
  std::string file;
  std::string endpoint = "/v1/chat/completions";
  bool wait = false;
  double interval_s = 1;  // between polls while waiting
  std::string output;     // "" with wait: FILE's name with .output.jsonl
};

int batch_submit(const BatchCommandOptions& c, const BatchSubmitOptions& o);
int batch_status(const BatchCommandOptions& c, const std::string& id);
int batch_cancel(const BatchCommandOptions& c, const std::string& id);
int batch_list(const BatchCommandOptions& c);

// One batch on one line, as status and list print it.
std::string batch_line(const BatchView& b);
// Where submit --wait writes a batch's output and errors: `output`, or beside the input file.
std::string output_path(const std::string& input, const std::string& output);
std::string errors_path(const std::string& output);

}  // namespace tokengrid::gateway
