// Lead pages: show only the action option the chosen bulk action needs, and
// ask before a suppression is lifted. Without JavaScript every option shows
// and the forms still work.
"use strict";
{
    const optionOf = {
        add_tag: "tag",
        remove_tag: "tag",
        add_to_list: "static_list",
        remove_from_list: "static_list",
        set_owner: "owner",
    };

    function showActionOption(actions) {
        const wanted = optionOf[actions.querySelector("select[name=action]").value];
        for (const name of ["tag", "static_list", "owner"]) {
            const input = actions.querySelector(`[name=${name}]`);
            const holder = input && input.closest("label");
            if (holder) {
                // The admin styles labels as inline-block, which beats [hidden].
                holder.style.display = name === wanted ? "" : "none";
            }
        }
    }

    document.addEventListener("DOMContentLoaded", () => {
        for (const actions of document.querySelectorAll("#changelist-form .actions")) {
            const select = actions.querySelector("select[name=action]");
            if (!select) {
                continue;
            }
            select.addEventListener("change", () => showActionOption(actions));
            showActionOption(actions);
        }
        for (const button of document.querySelectorAll("button[data-confirm]")) {
            button.addEventListener("click", (event) => {
                if (!window.confirm(button.dataset.confirm)) {
                    event.preventDefault();
                }
            });
        }
    });
}
