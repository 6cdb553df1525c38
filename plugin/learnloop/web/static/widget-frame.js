(function () {
  "use strict";
  var root = document.querySelector("main[data-parent-origin]");
  if (!root) { return; }
  var parentOrigin = root.getAttribute("data-parent-origin");
  function report() {
    if (parentOrigin && window.parent !== window) {
      window.parent.postMessage({learnloopHeight: Math.ceil(document.documentElement.getBoundingClientRect().height)},
        parentOrigin);
    }
  }
  report();
  if (window.ResizeObserver) { new ResizeObserver(report).observe(document.body); }
  if (root.getAttribute("data-signed-in") !== "0") { return; }
  var handoff = document.getElementById("handoff");
  var popup = null;
  var pending = "";
  function signIn(stars) {
    pending = stars;
    popup = window.open(root.getAttribute("data-connect"), "learnloop-signin", "popup,width=520,height=640");
    document.getElementById("blocked").hidden = Boolean(popup);
    report();
  }
  document.getElementById("signin").addEventListener("click", function () { signIn(""); });
  Array.prototype.forEach.call(document.querySelectorAll("#rate button[name=stars]"), function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      signIn(button.value);
    });
  });
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== window.location.origin || !popup || event.source !== popup || !data ||
        data.type !== "learnloop:signed-in" || typeof data.code !== "string") { return; }
    handoff.elements.code.value = data.code;
    handoff.elements.stars.value = pending;
    handoff.submit();
  });
}());
