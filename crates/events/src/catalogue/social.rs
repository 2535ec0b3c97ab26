//! The event types of the social service (docs/social.md): `social.*`.

use uuid::Uuid;

event_types! {
    producer: "social";

    PostLiked {
        name: "social.post.liked",
        version: 1,
        secret: false,
        description: "Someone liked a post. Consumed by the notifier (grouped per post). Audience: the post's author.",
        data: {
            post_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid)",
            liker_id: Uuid = "string (uuid)",
        }
    }

    CommentCreated {
        name: "social.comment.created",
        version: 1,
        secret: false,
        description: "Someone commented on a post. Consumed by the notifier (grouped per post). Audience: the post's author.",
        data: {
            comment_id: Uuid = "string (uuid)",
            post_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid): the post's author",
            commenter_id: Uuid = "string (uuid)",
            preview: Option<String> = "string: the first 80 characters",
        }
    }

    PostReposted {
        name: "social.post.reposted",
        version: 1,
        secret: false,
        description: "Someone reposted a post. Consumed by the notifier (grouped per post). Audience: the post's author.",
        data: {
            post_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid)",
            reposter_id: Uuid = "string (uuid)",
        }
    }

    MentionCreated {
        name: "social.mention.created",
        version: 1,
        secret: false,
        description: "Someone @mentioned a user in a post or comment (a mention in a bio is profiles.mention.created). Consumed by the notifier. Audience: the mentioned user.",
        data: {
            mentioned_id: Uuid = "string (uuid)",
            mentioner_id: Uuid = "string (uuid)",
            context: String = "string: post or comment",
            post_id: Option<Uuid> = "string (uuid)",
            comment_id: Option<Uuid> = "string (uuid)",
        }
    }

    ShopMentioned {
        name: "social.shop.mentioned",
        version: 1,
        secret: false,
        description: "Someone $mentioned a shop in a post. Consumed by the notifier. Audience: the shop's owner.",
        data: {
            shop_id: Uuid = "string (uuid)",
            shop_owner_id: Uuid = "string (uuid)",
            mentioner_id: Uuid = "string (uuid)",
            post_id: Uuid = "string (uuid)",
        }
    }

    PollEnded {
        name: "social.poll.ended",
        version: 1,
        secret: false,
        description: "A poll closed. Consumed by the notifier. Audience: the author and the voters.",
        data: {
            poll_id: Uuid = "string (uuid)",
            post_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid)",
        }
    }

    CollaborationInvited {
        name: "social.collaboration.invited",
        version: 1,
        secret: false,
        description: "A user was invited to co-author a post. Consumed by the notifier. Audience: the invitee.",
        data: {
            post_id: Uuid = "string (uuid)",
            inviter_id: Uuid = "string (uuid)",
            invitee_id: Uuid = "string (uuid)",
        }
    }

    PostCreated {
        name: "social.post.created",
        version: 1,
        secret: false,
        description: "A post was published (at once, or by the scheduler at its time; again when a co-author accepts). Consumed by social itself through the dispatcher: the post is fanned out into its authors' followers' cached home feeds. Nobody is notified. Audience: the authors.",
        data: {
            post_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid)",
            kind: String = "string: standard, product, event, poll, collaborative, repost or quote",
            published_at: String = "string: RFC 3339",
        }
    }

    PostDeleted {
        name: "social.post.deleted",
        version: 1,
        secret: false,
        description: "A post was deleted by its author (or erased with their account). Consumed by the notifier, which removes the post's notifications (likes, comments, reposts, mentions), and by social (cached feeds). Audience: the post's author.",
        data: {
            post_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid)",
        }
    }
}
