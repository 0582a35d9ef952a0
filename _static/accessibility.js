// Accessibility fixes for markup the theme, MyST and sphinxcontrib-bibtex generate.
document.addEventListener("DOMContentLoaded", () => {
  // Collapsible navigation sections use <summary> elements that hold only an icon.
  document.querySelectorAll("summary:not([aria-label])").forEach((summary) => {
    if (!summary.textContent.trim()) {
      const section = summary.closest("li")?.querySelector("a")?.textContent.trim();
      summary.setAttribute("aria-label", section ? `Show or hide: ${section}` : "Show or hide");
    }
  });
  // Checklists ("- [ ] ...") become disabled checkboxes without a label.
  document.querySelectorAll("li.task-list-item input[type=checkbox]").forEach((box) => {
    if (!box.hasAttribute("aria-label")) {
      const item = box.closest("li").textContent.trim();
      box.setAttribute("aria-label", `Checklist item: ${item.slice(0, 120)}`);
    }
  });
  // The bibliography is a role="list" whose entries carry the deprecated doc-biblioentry
  // role; a list must contain list items.
  document.querySelectorAll('[role="list"] > [role="doc-biblioentry"]').forEach((entry) => {
    entry.setAttribute("role", "listitem");
  });
});
