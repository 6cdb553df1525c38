(function () {
  "use strict";
  var base = "__LEARNLOOP_BASE__";
  if (window.top !== window.self || document.getElementById("learnloop-widget")) { return; }
  function title(name) {
    return encodeURIComponent(name).replace(/%(3B|40|24|21|2A|28|29|2C|2F|7E|3A)/g, decodeURIComponent)
      .replace(/'/g, "%27");
  }
  function mediawiki(config) {
    var ns = config.get("wgNamespaceNumber");
    if (config.get("wgAction") !== "view" || !config.get("wgIsArticle") || !config.get("wgArticleId") ||
        config.get("wgIsRedirect") || config.get("wgDiffOldId") || config.get("wgDiffNewId") ||
        (config.get("wgContentNamespaces") || [0]).indexOf(ns) < 0) { return null; }
    var server = config.get("wgServer") || window.location.origin;
    if (server.indexOf("//") === 0) { server = window.location.protocol + server; }
    return {page: server + config.get("wgArticlePath").replace("$1", title(config.get("wgPageName"))),
            where: document.getElementById("mw-content-text")};
  }
  function bookstack() {
    var path = window.location.pathname.replace(/\/$/, "");
    if (!/\/books\/[^/]+\/page\/[^/]+$/.test(path)) { return null; }
    return {page: window.location.origin + path, where: document.querySelector(".page-content")};
  }
  function place() {
    var found = window.mw && window.mw.config ? mediawiki(window.mw.config) : bookstack();
    if (!found || !found.where) { return; }
    var frame = document.createElement("iframe");
    frame.id = "learnloop-widget";
    frame.title = "Was this page useful? Rate it with learnloop";
    frame.src = base + "/widget/frame?url=" + encodeURIComponent(found.page) + "&origin=" +
      encodeURIComponent(window.location.origin);
    frame.style.cssText = "display:block;width:100%;max-width:56em;height:7em;border:0;margin:1.5em 0 0";
    var origin = new URL(base).origin;
    window.addEventListener("message", function (event) {
      var height = event.data && event.data.learnloopHeight;
      if (event.origin === origin && event.source === frame.contentWindow && typeof height === "number" &&
          height > 0 && height < 4000) { frame.style.height = height + "px"; }
    });
    found.where.appendChild(frame);
  }
  if (document.readyState === "complete") { place(); } else { window.addEventListener("load", place); }
}());
