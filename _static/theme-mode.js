// sphinx-book-theme 1.3 leaves the colour mode empty on a reader's first visit, and the
// pydata theme then logs a console error before falling back to "auto". Start from "auto".
if (!document.documentElement.dataset.mode) {
  document.documentElement.dataset.mode = "auto";
}
