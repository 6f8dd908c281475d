/* Outreach queue: keyboard shortcuts and the bulk bar. No dependencies, no build step.
 *
 * j / k  move between items      a  approve (with any edits)     e  edit the reply
 * r      reject with a reason    x  select for a bulk action     ?  show the shortcuts
 * w      wrong call: say what the post really is (thank-you, care or neither)
 * Ctrl/Cmd+Enter in the reply approves it; Esc leaves a text box or closes a dialog.
 * Words shown by the script come from data-* attributes the (translated) template sets.
 */
(function () {
  'use strict';

  const root = document.querySelector('[data-queue]');
  if (!root) return;

  const rows = Array.from(root.querySelectorAll('[data-queue-row]'));
  const bulkForm = root.querySelector('[data-queue-bulk]');
  const selectAll = root.querySelector('[data-queue-select-all]');
  const countLabel = root.querySelector('[data-queue-selected-count]');
  const help = root.querySelector('[data-queue-help]');
  let current = -1;

  function checkboxes() {
    return Array.from(root.querySelectorAll('[data-queue-select]'));
  }

  function setCurrent(index, focus) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => row.classList.toggle('is-current', i === current));
    if (focus !== false) {
      rows[current].focus({ preventScroll: true });
      rows[current].scrollIntoView({ block: 'nearest' });
    }
  }

  function row() {
    if (current < 0) setCurrent(0, false);
    return rows[current];
  }

  function updateBulk() {
    const boxes = checkboxes();
    const selected = boxes.filter((box) => box.checked);
    boxes.forEach((box) => box.closest('[data-queue-row]').classList.toggle('is-selected', box.checked));
    if (countLabel) {
      countLabel.textContent = selected.length === 1 ? countLabel.dataset.templateOne
        : countLabel.dataset.templateMany.replace('__n__', selected.length);
    }
    if (bulkForm) {
      bulkForm.querySelectorAll('[data-queue-bulk-button]').forEach((button) => {
        button.disabled = selected.length === 0;
      });
    }
    if (selectAll) {
      selectAll.checked = boxes.length > 0 && selected.length === boxes.length;
      selectAll.indeterminate = selected.length > 0 && selected.length < boxes.length;
    }
  }

  function edit(target) {
    const text = target.querySelector('[data-queue-text]');
    if (!text) return;
    text.readOnly = false;
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  }

  function approve(target) {
    const form = target.querySelector('[data-queue-approve]');
    if (form) form.requestSubmit();
  }

  // A reject reason is never pre-selected: the dialog asks, and says what is missing inside
  // itself instead of closing (the server checks the same and answers with a message).
  function resetReason(dialog) {
    dialog.querySelectorAll('input[name="reason"]').forEach((radio) => { radio.checked = false; });
    const note = dialog.querySelector('input[name="note"]');
    if (note) note.value = '';
    showError(dialog, '');
  }

  function showError(dialog, text) {
    const error = dialog.querySelector('[data-queue-dialog-error]');
    if (!error) return;
    error.textContent = text;
    error.hidden = !text;
  }

  function reasonProblem(dialog) {
    const reason = dialog.querySelector('input[name="reason"]:checked');
    const note = dialog.querySelector('input[name="note"]');
    if (!reason) return { text: root.dataset.errorReason, field: dialog.querySelector('input[name="reason"]') };
    if (reason.value === 'other' && note && !note.value.trim()) return { text: root.dataset.errorNote, field: note };
    return null;
  }

  function guardReason(dialog, event) {
    const problem = reasonProblem(dialog);
    if (!problem) return;
    event.preventDefault();
    showError(dialog, problem.text);
    if (problem.field) problem.field.focus();
  }

  // Reject, snooze and assign share one dialog each; opening it points its form at the row.
  function openDialog(name, target) {
    const dialog = root.querySelector('[data-queue-dialog="' + name + '"]');
    if (!dialog || !target || typeof dialog.showModal !== 'function') return;
    const form = dialog.querySelector('form[method="post"]');
    const id = target.dataset.id;
    form.action = form.dataset.actionTemplate.replace('/0/', '/' + id + '/');
    dialog.querySelectorAll('[data-queue-dialog-id]').forEach((el) => { el.textContent = '#' + id; });
    if (name === 'reject') resetReason(dialog);
    if (name === 'wrong_call') markCurrentCall(dialog, target.dataset.call);
    dialog.showModal();
    const first = dialog.querySelector('input:not([type="hidden"]), select, button:not([disabled])');
    if (first) first.focus();
  }

  const rejectDialog = root.querySelector('[data-queue-dialog="reject"]');
  if (rejectDialog) {
    rejectDialog.querySelector('form[method="post"]').addEventListener('submit', (event) => {
      if (event.submitter && event.submitter.getAttribute('formmethod') === 'dialog') return;
      guardReason(rejectDialog, event);
    });
  }

  function reject(target) {
    openDialog('reject', target);
  }

  // The class the detector already gave is not a wrong call: its button is shown, disabled.
  function markCurrentCall(dialog, call) {
    dialog.querySelectorAll('[data-queue-call]').forEach((button) => {
      const current = button.dataset.queueCall === call;
      button.disabled = current;
      button.querySelector('[data-queue-call-current]').hidden = !current;
    });
  }

  // Only rows about a post, with a thank-you or care proposal, carry data-call.
  function wrongCall(target) {
    if (target && target.dataset.call) openDialog('wrong_call', target);
  }

  function toggleSelect(target) {
    const box = target.querySelector('[data-queue-select]');
    if (!box) return;
    box.checked = !box.checked;
    updateBulk();
  }

  function anyDialogOpen() {
    return Boolean(document.querySelector('dialog[open]'));
  }

  function showHelp() {
    if (help && typeof help.showModal === 'function' && !help.open) help.showModal();
  }

  function isTyping(element) {
    return element && (element.isContentEditable ||
      ['INPUT', 'TEXTAREA', 'SELECT'].includes(element.tagName));
  }

  // Capture phase on window, so "?" opens the queue's shortcuts rather than (also) Wagtail's
  // global dialog, which listens on the document.
  function onKey(event) {
    if (event.defaultPrevented || event.altKey) return;
    const typing = isTyping(event.target);

    if (anyDialogOpen()) return; // the dialog has the keyboard (Esc closes it)
    if (typing) {
      if (event.key === 'Escape') {
        const text = event.target.closest('[data-queue-text]') ? event.target : null;
        if (text) text.readOnly = true;
        event.target.blur();
        if (current >= 0) setCurrent(current);
      } else if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) &&
                 event.target.matches('[data-queue-text]')) {
        event.preventDefault();
        event.target.form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey) return;

    const actions = {
      j: () => setCurrent(current + 1),
      k: () => setCurrent(current - 1),
      a: () => approve(row()),
      e: () => edit(row()),
      r: () => reject(row()),
      w: () => wrongCall(row()),
      x: () => toggleSelect(row()),
      '?': showHelp,
    };
    const action = actions[event.key];
    if (!action || (!rows.length && event.key !== '?')) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    action();
  }

  if (root.dataset.shortcuts !== 'off') window.addEventListener('keydown', onKey, true);

  rows.forEach((target, index) => {
    target.addEventListener('click', (event) => {
      if (!event.target.closest('a, button, summary, input, textarea, select')) setCurrent(index, false);
      else current = index;
      rows.forEach((r, i) => r.classList.toggle('is-current', i === current));
    });
    target.querySelectorAll('[data-queue-action="edit"]').forEach((button) => {
      button.addEventListener('click', () => { current = index; edit(target); });
    });
    target.querySelectorAll('[data-queue-open]').forEach((button) => {
      button.addEventListener('click', () => { current = index; openDialog(button.dataset.queueOpen, target); });
    });
  });

  checkboxes().forEach((box) => box.addEventListener('change', updateBulk));
  if (selectAll) {
    selectAll.addEventListener('change', () => {
      checkboxes().forEach((box) => { box.checked = selectAll.checked; });
      updateBulk();
    });
  }
  // Bulk actions are confirmed in a dialog (approved replies go out at once); a bulk reject
  // asks for its reason there.
  const bulkDialog = root.querySelector('[data-queue-bulk-dialog]');
  function openBulk(mode) {
    if (!bulkDialog || typeof bulkDialog.showModal !== 'function') return;
    const n = checkboxes().filter((box) => box.checked).length;
    if (!n) return;
    const title = bulkDialog.querySelector('[data-queue-bulk-title]');
    const template = n === 1 ? title.dataset[mode + 'One'] : title.dataset[mode];
    title.textContent = template.replace('__n__', n);
    bulkDialog.querySelectorAll('[data-queue-bulk-only]').forEach((el) => {
      el.hidden = el.dataset.queueBulkOnly !== mode;
    });
    resetReason(bulkDialog);
    bulkDialog.showModal();
    const first = mode === 'reject' ? bulkDialog.querySelector('input[name="reason"]')
      : bulkDialog.querySelector('button[value="approve"]');
    if (first) first.focus();
  }
  root.querySelectorAll('[data-queue-bulk-open]').forEach((button) => {
    button.addEventListener('click', () => openBulk(button.dataset.queueBulkOpen));
  });
  root.querySelectorAll('[data-queue-dialog-close]').forEach((button) => {
    button.addEventListener('click', () => button.closest('dialog').close());
  });
  if (bulkForm) {
    bulkForm.addEventListener('submit', (event) => {
      if (event.submitter && event.submitter.value === 'reject') guardReason(bulkDialog, event);
    });
  }

  // Keep the last action's message in view: it moves into the sticky bar above the rows, so
  // moving down the queue with j does not scroll it away.
  const flash = root.querySelector('[data-queue-flash]');
  const messages = document.querySelector('.messages ul');
  if (flash && messages && messages.children.length) flash.appendChild(messages);

  updateBulk();
  if (rows.length) setCurrent(0, false);
})();
