/* A care conversation: fill the reply from a template, keyboard shortcuts.
 *
 * r  write a reply    n  write an internal note    Ctrl/Cmd+Enter sends    Esc leaves a box
 * No dependencies, no build step.
 */
(function () {
  'use strict';

  const root = document.querySelector('[data-conversation]');
  if (!root) return;
  const reply = root.querySelector('[data-conversation-reply] textarea');
  const note = root.querySelector('[data-conversation-note] textarea');
  const picker = root.querySelector('[data-conversation-template]');

  if (picker && reply) {
    picker.addEventListener('change', () => {
      if (picker.value) {
        reply.value = picker.value;
        reply.focus();
      }
    });
  }

  document.addEventListener('keydown', (event) => {
    const target = event.target;
    const typing = target instanceof HTMLTextAreaElement || target instanceof HTMLInputElement
      || target instanceof HTMLSelectElement;
    if (typing) {
      if (event.key === 'Escape') target.blur();
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && target.form) {
        event.preventDefault();
        target.form.requestSubmit();
      }
      return;
    }
    if (root.dataset.shortcuts !== 'on' || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === 'r' && reply) { event.preventDefault(); reply.focus(); }
    if (event.key === 'n' && note) { event.preventDefault(); note.focus(); }
  });
})();
