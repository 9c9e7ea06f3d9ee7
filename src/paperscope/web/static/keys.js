/* Keyboard shortcuts (a static file: the Content-Security-Policy allows no inline script).
   /  search        j / k  next / previous paper      o  open it
   u  upvote it     s      save it                     ?  this help (Esc closes)                  */
(function () {
  "use strict";
  var current = -1;

  function cards() { return Array.prototype.slice.call(document.querySelectorAll("main article.card")); }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function select(index) {
    var list = cards();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (card, i) { card.classList.toggle("current", i === current); });
    var card = list[current];
    card.setAttribute("tabindex", "-1");
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function currentCard() {
    var list = cards();
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("article.card") : null;
    if (focused) { return focused; }
    return current >= 0 && current < list.length ? list[current] : null;
  }

  function help(show) {
    var box = document.getElementById("keyhelp");
    if (!box) { return; }
    box.hidden = show === undefined ? !box.hidden : !show;
    if (!box.hidden) { box.focus(); }
  }

  function press(card, selector) {
    var control = card && card.querySelector(selector);
    if (control) { control.click(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { help(false); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var card;
    switch (event.key) {
      case "/":
        var box = document.querySelector("form.searchform input[name=q], header input[name=q]");
        if (box) { event.preventDefault(); box.focus(); box.select(); }
        break;
      case "j": select(current + 1); break;
      case "k": select(current < 0 ? 0 : current - 1); break;
      case "o":
        card = currentCard();
        if (card) { press(card, "h2 a"); }
        break;
      case "u":
        card = currentCard();
        press(card, "form.votes button, a.votes");
        break;
      case "s":
        card = currentCard();
        press(card, ".libactions form:first-child button");
        break;
      case "?": help(); break;
      default: return;
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target && event.target.closest && event.target.closest("[data-close-help]")) { help(false); }
  });
}());
