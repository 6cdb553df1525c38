(function () {
  "use strict";
  var handoff = document.getElementById("handoff");
  if (!handoff || !window.opener) { return; }
  window.opener.postMessage({type: "learnloop:signed-in", code: handoff.getAttribute("data-handoff")},
    handoff.getAttribute("data-origin"));
  window.close();
}());
