// HttpParser: llhttp in request or response mode, made strict where RFC 9112 is strict and
// where request smuggling hides (obs-fold, bare CR/LF, stray whitespace, ambiguous framing).
// One per connection and direction; owned by the session or upstream connection; one thread.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string>
#include <vector>

#include "http/message.h"

namespace weir::http {

struct ParseLimits {
  size_t max_head_bytes = 16 * 1024;  // start line + header section, CRLFs included
  size_t max_uri_bytes = 8 * 1024;    // request target (requests only)
};

class HttpParser {
 public:
  enum class Mode { Request, Response };

  class Sink {
   public:
    virtual ~Sink() = default;
    /// The head is complete (parser.head()). Return false to stop with parser.fail() set.
    virtual bool onHead(HttpParser& parser) = 0;
    virtual void onBody(HttpParser& parser, const char* data, size_t len) = 0;
    /// The message is complete; the parser pauses until resume().
    virtual void onMessageComplete(HttpParser& parser) = 0;
  };

  enum class Status {
    NeedMore,         // every byte consumed, message not complete
    MessageComplete,  // paused after a message; bytes past `consumed` belong to the next one
    Upgrade,          // bytes past `consumed` belong to the upgraded protocol
    Error,            // errorStatus() / errorReason() say why
  };
  struct Outcome {
    Status status;
    size_t consumed;
  };

  HttpParser(Mode mode, Sink* sink, ParseLimits limits);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  Outcome execute(const char* data, size_t len);
  /// The peer closed: completes a close-delimited response, or reports truncation.
  Outcome finish();
  /// Continues after MessageComplete with the next message.
  void resume();
  /// Starts over for a new connection use (response parsers of pooled connections).
  void reset();
  /// Frees the memory of the last message's head (an idle connection's parser).
  void compact();

  void setSink(Sink* sink) { sink_ = sink; }
  void setLimits(ParseLimits limits) { limits_ = limits; }
  /// The next response belongs to a HEAD request: it has no body whatever it says.
  void expectNoBody(bool on) { no_body_ = on; }
  /// Stops parsing with `status` (e.g. 413) and a reason for the log.
  void fail(int status, std::string reason);

  MessageHead& head() { return head_; }
  const MessageHead& head() const { return head_; }
  bool headComplete() const { return head_complete_; }
  bool inMessage() const { return in_message_; }
  /// The message in progress ends only when the connection closes.
  bool needsEof() const { return llhttp_message_needs_eof(&parser_) != 0; }
  int errorStatus() const { return error_status_; }
  const std::string& errorReason() const { return error_reason_; }

 private:
  bool scanHead(const char* data, size_t len);
  int finishHead();
  void restartScan();
  Outcome parse(const char* data, size_t len);
  void recycleHeaders();
  HeaderField& startField();
  HeaderField& field() { return head_.headers[fields_ - 1]; }  // the one being received
  void dropSpareFields();

  static int onMessageBegin(llhttp_t* p);
  static int onUrl(llhttp_t* p, const char* at, size_t n);
  static int onStatus(llhttp_t* p, const char* at, size_t n);
  static int onHeaderField(llhttp_t* p, const char* at, size_t n);
  static int onHeaderFieldComplete(llhttp_t* p);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t n);
  static int onHeaderValueComplete(llhttp_t* p);
  static int onHeadersComplete(llhttp_t* p);
  static int onBodyCb(llhttp_t* p, const char* at, size_t n);
  static int onMessageCompleteCb(llhttp_t* p);

  Mode mode_;
  Sink* sink_;
  ParseLimits limits_;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  MessageHead head_;
  size_t fields_ = 0;  // of the message in progress: the first fields_ of head_.headers
  std::vector<HeaderField> spare_;  // fields of earlier messages, reused for their memory
  bool in_field_ = false;           // a field name is being received
  bool head_complete_ = false;
  bool in_message_ = false;
  bool no_body_ = false;
  int error_status_ = 0;
  std::string error_reason_;
  // Head pre-scan (see scanHead).
  bool scanning_ = true;
  size_t head_bytes_ = 0;
  size_t line_ = 0;
  size_t line_len_ = 0;
  char prev_ = '\n';
};

}  // namespace weir::http
