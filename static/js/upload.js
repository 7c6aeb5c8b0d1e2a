/* Uploads with a progress bar: the form posts by XMLHttpRequest, showing how much is sent, then
   that the server is checking; the answer replaces the page. Without this script the form posts as
   usual. No inline script (the Content-Security-Policy forbids it). */
(function () {
  "use strict";

  function bind(form) {
    var box = form.querySelector("[data-upload-progress]");
    if (!box || !window.FormData || !window.DOMParser) { return; }
    var bar = box.querySelector("progress"), status = box.querySelector("[data-upload-status]");

    form.addEventListener("submit", function (event) {
      var file = form.querySelector("input[type=file]");
      if (!file || !file.files.length) { return; }  // the server says what is missing
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      box.hidden = false;
      bar.value = 0;
      status.textContent = status.dataset.msgUploading.replace("{p}", "0");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        var percent = Math.round(100 * e.loaded / e.total);
        bar.value = percent;
        status.textContent = status.dataset.msgUploading.replace("{p}", String(percent));
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value");  // indeterminate while the server checks the rows
        status.textContent = status.dataset.msgChecking;
      });
      xhr.addEventListener("load", function () { show(xhr); });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        bar.value = 0;
        status.textContent = status.dataset.msgFailed;
      });
      xhr.send(new FormData(form));
    });
  }

  function show(xhr) {
    var next = new DOMParser().parseFromString(xhr.responseText, "text/html");
    document.title = next.title;
    document.body.replaceWith(document.adoptNode(next.body));
    if (xhr.responseURL && xhr.responseURL !== window.location.href) {
      window.history.replaceState(null, "", xhr.responseURL);
    }
    document.querySelectorAll("form[data-upload]").forEach(bind);
    var focus = document.querySelector("[role=alert], .flash, h1");
    if (focus) { focus.setAttribute("tabindex", "-1"); focus.focus(); }
  }

  document.querySelectorAll("form[data-upload]").forEach(bind);
}());
