-- Custom events per account, bot and UTC day, with the day's totals beside them.
with detail as (
    select account_id, bot_id, event_date, count(*) as events
    from {{ source('botevents', 'custom_event_detail') }}
    group by all
),

totals as (
    select account_id, bot_id, event_date, sum(event_count) as counted
    from {{ source('botevents', 'custom_event_total') }}
    where interval = 'daily'
    group by all
)

select
    detail.account_id,
    detail.bot_id,
    detail.event_date,
    detail.events,
    totals.counted
from detail
left join totals using (account_id, bot_id, event_date)
