/* The reward rule editor shows only the fields of the chosen trigger and reward.
 * Each controlling select (trigger, reward kind, discount type) carries, in
 * data-kansha-controls, which fields each of its choices uses (rewards/forms.py RULE_DEPENDS,
 * which the server checks too). A field is shown when every controller that names it lists
 * it under its current choice. */
(function () {
  'use strict';

  // A field's panel (its label, help and input): Wagtail wraps each FieldPanel in one.
  function wrapper(name) {
    const field = document.querySelector('[data-contentpath="' + name + '"]') ||
      document.querySelector('[name="' + name + '"]');
    return field ? field.closest('.w-panel__wrapper') : null;
  }

  function update() {
    const controllers = Array.from(document.querySelectorAll('select[data-kansha-controls]'));
    const verdict = {};
    controllers.forEach((select) => {
      const options = JSON.parse(select.dataset.kanshaControls);
      let chosen = options[select.value] || [];
      // The discount type matters only for discounts.
      const kind = document.querySelector('select[name="reward_kind"]');
      if (select.name === 'discount_type' && kind && kind.value !== 'discount') chosen = [];
      Object.values(options).flat().forEach((name) => {
        verdict[name] = (verdict[name] !== false) && chosen.includes(name);
      });
    });
    Object.entries(verdict).forEach(([name, show]) => {
      const el = wrapper(name);
      if (el) el.hidden = !show;
    });
  }

  function start() {
    const controllers = document.querySelectorAll('select[data-kansha-controls]');
    if (!controllers.length) return;
    controllers.forEach((select) => select.addEventListener('change', update));
    update();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
